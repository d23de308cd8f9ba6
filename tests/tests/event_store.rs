//! The event store against the real PostgreSQL: expected versions under
//! concurrency, row-level security as a wall of its own, and an append-only log.

use chrono::{TimeZone, Utc};
use confer_store::domain::{DomainEvent, EventMetadata, RoomName, StreamId};
use confer_store::{EventStore, ExpectedVersion, Scope, StoreError};
use confer_tests::TestDatabase;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use uuid::Uuid;

async fn store(db: &TestDatabase) -> EventStore {
    let conn = db.connect().await;
    confer_api::app::migrate(&conn).await.expect("migrate");
    EventStore::new(conn)
}

fn meta() -> EventMetadata {
    EventMetadata { actor: "test".into(), ..Default::default() }
}

fn scheduled(id: Uuid, room: &str) -> DomainEvent {
    DomainEvent::MeetingScheduled {
        meeting_id: id,
        room: RoomName::parse(room).unwrap(),
        title: room.into(),
        starts_at: Utc.with_ymd_and_hms(2031, 1, 1, 9, 0, 0).unwrap(),
        ends_at: Utc.with_ymd_and_hms(2031, 1, 1, 10, 0, 0).unwrap(),
        password_hash: None,
        moderators: vec![],
        lobby: None,
    }
}

fn retitled(id: Uuid, title: &str) -> DomainEvent {
    DomainEvent::MeetingChanged {
        meeting_id: id,
        title: title.into(),
        starts_at: Utc.with_ymd_and_hms(2031, 1, 1, 9, 0, 0).unwrap(),
        ends_at: Utc.with_ymd_and_hms(2031, 1, 1, 10, 0, 0).unwrap(),
        password_hash: None,
        moderators: vec![],
        lobby: None,
    }
}

async fn count(store: &EventStore, scope: Scope, query: &str) -> i64 {
    let tx = store.begin(scope).await.unwrap();
    let row =
        tx.conn().query_one_raw(Statement::from_string(DbBackend::Postgres, query.to_owned())).await.unwrap().unwrap();
    let n = row.try_get_by_index::<i64>(0).unwrap();
    tx.commit().await.unwrap();
    n
}

async fn schedule(store: &EventStore, tenant: Uuid, room: &str) -> Uuid {
    let id = Uuid::now_v7();
    let tx = store.begin(Scope::Tenant(tenant)).await.unwrap();
    tx.append(tenant, &StreamId::meeting(id), ExpectedVersion::NoStream, &[scheduled(id, room)], &meta())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id
}

#[tokio::test]
async fn concurrent_appends_at_the_same_version_one_wins_one_conflicts() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let tenant = Uuid::now_v7();
    let id = schedule(&store, tenant, "race").await;
    let stream = StreamId::meeting(id);

    let tx1 = store.begin(Scope::Tenant(tenant)).await.unwrap();
    let tx2 = store.begin(Scope::Tenant(tenant)).await.unwrap();
    let first = tx1.append(tenant, &stream, ExpectedVersion::Exactly(1), &[retitled(id, "first")], &meta()).await;
    assert!(first.is_ok(), "{first:?}");
    // tx2 does not see tx1's row; its insert waits on the unique index until tx1 commits.
    let (losing_event, losing_meta) = ([retitled(id, "second")], meta());
    let (second, committed) =
        tokio::join!(tx2.append(tenant, &stream, ExpectedVersion::Exactly(1), &losing_event, &losing_meta), async {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            tx1.commit().await
        });
    committed.unwrap();
    assert!(matches!(second, Err(StoreError::Conflict { .. })), "the second writer must conflict: {second:?}");
    drop(tx2);

    let titles = count(&store, Scope::Tenant(tenant), "SELECT count(*) FROM meetings WHERE title = 'first'").await;
    assert_eq!(titles, 1, "the winner's change is the one projected");
    let versions = count(
        &store,
        Scope::Tenant(tenant),
        &format!("SELECT max(stream_version) FROM events WHERE stream_id = '{}'", stream.as_str()),
    )
    .await;
    assert_eq!(versions, 2, "exactly one event was added, never an overwrite");
}

#[tokio::test]
async fn many_writers_racing_on_one_version_exactly_one_wins() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let tenant = Uuid::now_v7();
    let id = schedule(&store, tenant, "crowd").await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let tx = store.begin(Scope::Tenant(tenant)).await?;
            tx.append(
                tenant,
                &StreamId::meeting(id),
                ExpectedVersion::Exactly(1),
                &[retitled(id, &format!("w{i}"))],
                &meta(),
            )
            .await?;
            tx.commit().await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => wins += 1,
            Err(StoreError::Conflict { .. }) => {}
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(count(&store, Scope::Platform, "SELECT count(*) FROM events").await, 2);
}

#[tokio::test]
async fn a_stale_or_future_expected_version_appends_nothing() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let tenant = Uuid::now_v7();
    let id = schedule(&store, tenant, "stale").await;
    for expected in [ExpectedVersion::NoStream, ExpectedVersion::Exactly(5)] {
        let tx = store.begin(Scope::Tenant(tenant)).await.unwrap();
        let r = tx.append(tenant, &StreamId::meeting(id), expected, &[retitled(id, "x")], &meta()).await;
        assert!(matches!(r, Err(StoreError::Conflict { .. })), "{expected:?}: {r:?}");
    }
    assert_eq!(count(&store, Scope::Platform, "SELECT count(*) FROM events").await, 1);
}

#[tokio::test]
async fn row_level_security_alone_refuses_other_tenants_rows() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    schedule(&store, a, "a-room").await;
    schedule(&store, b, "b-room").await;
    schedule(&store, b, "b-room-2").await;

    // Queries that forget the tenant filter still see only their own tenant's rows.
    for table in ["meetings", "events"] {
        assert_eq!(count(&store, Scope::Tenant(a), &format!("SELECT count(*) FROM {table}")).await, 1, "{table} as a");
        assert_eq!(count(&store, Scope::Tenant(b), &format!("SELECT count(*) FROM {table}")).await, 2, "{table} as b");
    }
    // Updates cannot reach them either.
    let tx = store.begin(Scope::Tenant(a)).await.unwrap();
    let res = tx.conn().execute_unprepared("UPDATE meetings SET title = 'pwned'").await.unwrap();
    assert_eq!(res.rows_affected(), 1);
    tx.commit().await.unwrap();
    assert_eq!(count(&store, Scope::Platform, "SELECT count(*) FROM meetings WHERE title = 'pwned'").await, 1);

    // Writing a row for another tenant is refused by the policy's WITH CHECK.
    let tx = store.begin(Scope::Tenant(a)).await.unwrap();
    let insert = format!(
        "INSERT INTO events (stream_id, stream_version, tenant_id, event_type, payload) VALUES ('x', 1, '{b}', 'T', '{{}}')"
    );
    let err = tx.conn().execute_unprepared(&insert).await.unwrap_err();
    assert!(err.to_string().contains("row-level security"), "{err}");
    drop(tx);

    // A session with no tenant set sees nothing at all.
    let conn = db.connect().await;
    let tx = sea_orm::TransactionTrait::begin(&conn).await.unwrap();
    tx.execute_unprepared("SET LOCAL ROLE confer_app").await.unwrap();
    let row = tx
        .query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT count(*) FROM meetings".to_owned()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get_by_index::<i64>(0).unwrap(), 0);
}

#[tokio::test]
async fn the_log_is_append_only_for_the_application_role() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let tenant = Uuid::now_v7();
    schedule(&store, tenant, "keep").await;
    for statement in ["UPDATE events SET payload = '{}'", "DELETE FROM events"] {
        let tx = store.begin(Scope::Tenant(tenant)).await.unwrap();
        let err = tx.conn().execute_unprepared(statement).await.unwrap_err();
        assert!(err.to_string().contains("permission denied"), "{statement}: {err}");
    }
    assert_eq!(count(&store, Scope::Platform, "SELECT count(*) FROM events").await, 1);
}

#[tokio::test]
async fn an_append_for_another_tenant_inside_a_scoped_transaction_is_refused() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let tx = store.begin(Scope::Tenant(a)).await.unwrap();
    let id = Uuid::now_v7();
    let err = tx
        .append(b, &StreamId::meeting(id), ExpectedVersion::NoStream, &[scheduled(id, "sneaky")], &meta())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("scoped to tenant"), "{err}");
    drop(tx);
    assert_eq!(count(&store, Scope::Platform, "SELECT count(*) FROM events").await, 0);
}

#[tokio::test]
async fn a_single_statement_append_projects_and_returns_the_row() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let tenant = Uuid::now_v7();
    let id = Uuid::now_v7();
    let appended = store
        .append(tenant, &StreamId::meeting(id), ExpectedVersion::NoStream, &[scheduled(id, "solo")], &meta())
        .await
        .unwrap();
    assert_eq!(appended.len(), 1);
    assert_eq!(appended[0].event.stream_version, 1);
    assert_eq!(appended[0].row["room"], "solo");
    assert_eq!(appended[0].row["version"], 1);
    assert_eq!(count(&store, Scope::Tenant(tenant), "SELECT count(*) FROM meetings WHERE room = 'solo'").await, 1);
    let again = store
        .append(tenant, &StreamId::meeting(id), ExpectedVersion::NoStream, &[scheduled(id, "solo")], &meta())
        .await;
    assert!(matches!(again, Err(StoreError::Conflict { .. })), "{again:?}");
}

#[tokio::test]
async fn a_feed_read_waits_for_an_earlier_append_that_has_not_committed() {
    use confer_store::event_feed;
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let tenant = Uuid::now_v7();
    // A takes the lower position and stays open; B takes the next one and commits.
    let slow = store.begin(Scope::Tenant(tenant)).await.unwrap();
    let a = Uuid::now_v7();
    let first = slow
        .append(tenant, &StreamId::meeting(a), ExpectedVersion::NoStream, &[scheduled(a, "slow")], &meta())
        .await
        .unwrap();
    let b = Uuid::now_v7();
    let second = store
        .append(tenant, &StreamId::meeting(b), ExpectedVersion::NoStream, &[scheduled(b, "fast")], &meta())
        .await
        .unwrap();
    assert!(second[0].event.position > first[0].event.position);

    let reader_store = store.clone();
    let reader = tokio::spawn(async move {
        let tx = reader_store.begin(Scope::Tenant(tenant)).await.unwrap();
        let events = event_feed::after(&tx, tenant, 0, 100).await.unwrap();
        tx.commit().await.unwrap();
        events.into_iter().map(|e| e.position).collect::<Vec<_>>()
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!reader.is_finished(), "the read must not pass the uncommitted lower position");
    slow.commit().await.unwrap();
    let seen = tokio::time::timeout(std::time::Duration::from_secs(5), reader).await.unwrap().unwrap();
    assert_eq!(seen, vec![first[0].event.position, second[0].event.position], "both, in order, nothing skipped");
}
