//! `confer-worker` will consume RabbitMQ jobs (domain checks, ACME certificates,
//! media-node provisioning, webhooks) published from the api's outbox. Not built
//! yet: this binary only says so, and exits with a failure so nothing mistakes it
//! for a running worker.

fn main() {
    eprintln!("confer-worker: not built yet (background jobs arrive with the custom-domains work)");
    std::process::exit(2);
}
