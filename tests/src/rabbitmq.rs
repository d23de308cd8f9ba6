//! A RabbitMQ vhost per test (created with `rabbitmqctl`, deleted when dropped), so
//! tests run in parallel and twice in a row; and a way to make RabbitMQ unreachable
//! for that vhost only (its permissions cleared), as if it were down.

use std::process::Command;

/// A vhost of one test.
pub struct TestVhost {
    /// Its name.
    pub name: String,
}

fn rabbitmqctl(args: &[&str]) -> String {
    let out =
        Command::new("rabbitmqctl").args(args).output().expect("rabbitmqctl runs (infra/services.sh installs it)");
    assert!(out.status.success(), "rabbitmqctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl TestVhost {
    /// A fresh vhost that `guest` may use.
    pub fn create() -> Self {
        let name = format!("confer-test-{}", uuid::Uuid::new_v4().simple());
        rabbitmqctl(&["add_vhost", &name]);
        let vhost = Self { name };
        vhost.allow();
        vhost
    }

    /// The AMQP URL of the vhost on the local RabbitMQ.
    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:5672/{}", self.name)
    }

    /// RabbitMQ is "down" for this vhost: `guest` may no longer use it.
    pub fn deny(&self) {
        rabbitmqctl(&["clear_permissions", "-p", &self.name, "guest"]);
        // Connections already open keep their channels; close them too.
        let listed = rabbitmqctl(&["list_connections", "-q", "--no-table-headers", "pid", "vhost"]);
        for line in listed.lines().filter(|l| l.trim_end().ends_with(&self.name)) {
            if let Some(pid) = line.split_whitespace().next() {
                let _ = Command::new("rabbitmqctl").args(["close_connection", pid, "test: RabbitMQ down"]).output();
            }
        }
    }

    /// RabbitMQ is back for this vhost.
    pub fn allow(&self) {
        rabbitmqctl(&["set_permissions", "-p", &self.name, "guest", ".*", ".*", ".*"]);
    }

    /// Messages ready in `queue`, if it exists.
    pub fn ready(&self, queue: &str) -> Option<u64> {
        let listed = rabbitmqctl(&["list_queues", "-p", &self.name, "-q", "--no-table-headers", "name", "messages"]);
        listed.lines().find_map(|l| {
            let mut parts = l.split_whitespace();
            (parts.next() == Some(queue)).then(|| parts.next().and_then(|n| n.parse().ok())).flatten()
        })
    }
}

impl Drop for TestVhost {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl").args(["delete_vhost", &self.name]).output();
    }
}
