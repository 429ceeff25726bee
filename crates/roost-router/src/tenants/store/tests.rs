//! Store tests: each runs on SQLite and, when `ROOST_TEST_DATABASE_URL` is set, on PostgreSQL.

use std::time::Duration;

use super::*;
use crate::db::testing::TestDb;

const OWNER_A: &str = "router-a";
const OWNER_B: &str = "router-b";

fn learned_app() -> Learned {
    Learned {
        app_id: Some("app-id-1".into()),
        ..Learned::default()
    }
}

#[tokio::test]
async fn a_new_users_tenant_is_created_once_and_pending() {
    for test in TestDb::all().await {
        let store = TenantStore::new(test.db.clone());
        assert_eq!(
            store.get_by_user("alice").await.unwrap(),
            None,
            "{:?}",
            test.kind()
        );

        // Racing first requests all get the same row.
        let (a, b, c) = tokio::join!(
            store.ensure_for_user("alice", "roost-u-aaa"),
            store.ensure_for_user("alice", "roost-u-aaa"),
            store.ensure_for_user("alice", "roost-u-aaa"),
        );
        let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a.id, "roost-u-aaa");
        assert_eq!(a.app_name, "roost-u-aaa");
        assert_eq!(a.state, TenantState::Pending);
        assert_eq!(a.app_id, None);
        assert_eq!(store.get("roost-u-aaa").await.unwrap(), Some(a.clone()));
    }
}

#[tokio::test]
async fn a_tenant_id_owned_by_another_user_is_refused() {
    for test in TestDb::all().await {
        let store = TenantStore::new(test.db.clone());
        store.ensure_for_user("alice", "roost-u-aaa").await.unwrap();
        let err = store
            .ensure_for_user("mallory", "roost-u-aaa")
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("another user"),
            "{:?}: {err}",
            test.kind()
        );
        assert_eq!(
            store.get("roost-u-aaa").await.unwrap().unwrap().user_id,
            "alice"
        );
    }
}

#[tokio::test]
async fn provisioning_steps_record_what_they_learned() {
    for test in TestDb::all().await {
        let store = TenantStore::new(test.db.clone());
        store.ensure_for_user("alice", "roost-u-aaa").await.unwrap();
        store
            .claim("roost-u-aaa", OWNER_A, Duration::from_secs(60))
            .await
            .unwrap();
        let id = "roost-u-aaa";
        let steps = [
            (TenantState::Pending, TenantState::AppCreated, learned_app()),
            (
                TenantState::AppCreated,
                TenantState::VolumeCreated,
                Learned {
                    volume_id: Some("vol_1".into()),
                    region: Some("ams".into()),
                    ..Learned::default()
                },
            ),
            (
                TenantState::VolumeCreated,
                TenantState::MachineCreated,
                Learned {
                    machine_id: Some("m1".into()),
                    image: Some("img:1".into()),
                    ..Learned::default()
                },
            ),
            (
                TenantState::MachineCreated,
                TenantState::Ready,
                Learned::default(),
            ),
        ];
        for (from, to, learned) in steps {
            let tenant = store
                .transition(id, from, to, &learned, Some(OWNER_A))
                .await
                .unwrap();
            assert_eq!(tenant.state, to, "{:?}", test.kind());
        }
        let tenant = store.get(id).await.unwrap().unwrap();
        assert_eq!(tenant.app_id.as_deref(), Some("app-id-1"));
        assert_eq!(tenant.volume_id.as_deref(), Some("vol_1"));
        assert_eq!(tenant.region.as_deref(), Some("ams"));
        assert_eq!(tenant.machine_id.as_deref(), Some("m1"));
        assert_eq!(tenant.image.as_deref(), Some("img:1"));
        assert!(tenant.ready_at.is_some());
        assert_eq!(tenant.attempts, 0);
    }
}

#[tokio::test]
async fn illegal_and_stale_transitions_change_nothing() {
    for test in TestDb::all().await {
        let store = TenantStore::new(test.db.clone());
        store.ensure_for_user("alice", "roost-u-aaa").await.unwrap();
        let id = "roost-u-aaa";

        let err = store
            .transition(
                id,
                TenantState::Pending,
                TenantState::Ready,
                &Learned::default(),
                None,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Illegal(_)),
            "{:?}: {err}",
            test.kind()
        );

        // A write that expects a state the tenant has left loses, and says who won.
        store
            .transition(
                id,
                TenantState::Pending,
                TenantState::AppCreated,
                &learned_app(),
                None,
            )
            .await
            .unwrap();
        let err = store
            .transition(
                id,
                TenantState::Pending,
                TenantState::AppCreated,
                &Learned::default(),
                None,
            )
            .await
            .unwrap_err();
        match err {
            StoreError::Conflict {
                expected, actual, ..
            } => {
                assert_eq!(expected, TenantState::Pending);
                assert_eq!(actual, TenantState::AppCreated);
            }
            other => panic!("expected a conflict, got {other}"),
        }
        assert_eq!(
            store.get(id).await.unwrap().unwrap().app_id.as_deref(),
            Some("app-id-1")
        );
    }
}

#[tokio::test]
async fn only_the_lease_holder_can_advance_a_tenant() {
    for test in TestDb::all().await {
        let store = TenantStore::new(test.db.clone());
        let id = "roost-u-aaa";
        store.ensure_for_user("alice", id).await.unwrap();
        let ttl = Duration::from_secs(60);

        assert!(store.claim(id, OWNER_A, ttl).await.unwrap());
        assert!(
            !store.claim(id, OWNER_B, ttl).await.unwrap(),
            "{:?}",
            test.kind()
        );
        assert!(store.claim(id, OWNER_A, ttl).await.unwrap(), "renewal");

        let err = store
            .transition(
                id,
                TenantState::Pending,
                TenantState::AppCreated,
                &learned_app(),
                Some(OWNER_B),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::LeaseLost { .. }), "{err}");
        assert!(matches!(
            store
                .record_error(id, "boom", Some(OWNER_B))
                .await
                .unwrap_err(),
            StoreError::LeaseLost { .. }
        ));
        assert_eq!(
            store.get(id).await.unwrap().unwrap().state,
            TenantState::Pending
        );

        store.release(id, OWNER_A).await.unwrap();
        assert!(store.claim(id, OWNER_B, ttl).await.unwrap());
        store
            .transition(
                id,
                TenantState::Pending,
                TenantState::AppCreated,
                &learned_app(),
                Some(OWNER_B),
            )
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn an_expired_lease_can_be_taken_over() {
    for test in TestDb::all().await {
        let store = TenantStore::new(test.db.clone());
        let id = "roost-u-aaa";
        store.ensure_for_user("alice", id).await.unwrap();
        let start = now_ms();
        assert!(
            store
                .claim_at(id, OWNER_A, Duration::from_secs(30), start)
                .await
                .unwrap()
        );
        assert!(
            !store
                .claim_at(id, OWNER_B, Duration::from_secs(30), start + 29_000)
                .await
                .unwrap()
        );
        // Router A crashed and never renewed: after the TTL, B takes over.
        assert!(
            store
                .claim_at(id, OWNER_B, Duration::from_secs(30), start + 31_000)
                .await
                .unwrap()
        );
        let tenant = store.get(id).await.unwrap().unwrap();
        assert_eq!(
            tenant.lease_owner.as_deref(),
            Some(OWNER_B),
            "{:?}",
            test.kind()
        );
    }
}

#[tokio::test]
async fn failures_are_counted_and_a_failed_tenant_resumes_where_it_stopped() {
    for test in TestDb::all().await {
        let store = TenantStore::new(test.db.clone());
        let id = "roost-u-aaa";
        store.ensure_for_user("alice", id).await.unwrap();
        store
            .transition(
                id,
                TenantState::Pending,
                TenantState::AppCreated,
                &learned_app(),
                None,
            )
            .await
            .unwrap();
        assert_eq!(
            store.record_error(id, "503 from Fly", None).await.unwrap(),
            1
        );
        assert_eq!(store.record_error(id, "503 again", None).await.unwrap(), 2);

        let failed = store
            .fail(
                id,
                TenantState::AppCreated,
                "volume create: 422 invalid region",
                None,
            )
            .await
            .unwrap();
        assert_eq!(failed.state, TenantState::Failed, "{:?}", test.kind());
        assert_eq!(failed.resume_state, Some(TenantState::AppCreated));
        assert_eq!(
            failed.last_error.as_deref(),
            Some("volume create: 422 invalid region")
        );

        let resumed = store.resume(id).await.unwrap();
        assert_eq!(resumed.state, TenantState::AppCreated);
        assert_eq!(resumed.last_error, None);
        assert_eq!(resumed.attempts, 0);
        assert_eq!(
            resumed.app_id.as_deref(),
            Some("app-id-1"),
            "what was learned is kept"
        );
    }
}

#[tokio::test]
async fn suspension_round_trips_to_ready() {
    for test in TestDb::all().await {
        let store = TenantStore::new(test.db.clone());
        let id = "roost-u-aaa";
        store.ensure_for_user("alice", id).await.unwrap();
        for (from, to) in [
            (TenantState::Pending, TenantState::AppCreated),
            (TenantState::AppCreated, TenantState::VolumeCreated),
            (TenantState::VolumeCreated, TenantState::MachineCreated),
            (TenantState::MachineCreated, TenantState::Ready),
            (TenantState::Ready, TenantState::Suspended),
        ] {
            store
                .transition(id, from, to, &Learned::default(), None)
                .await
                .unwrap();
        }
        assert_eq!(
            store.resume(id).await.unwrap().state,
            TenantState::Ready,
            "{:?}",
            test.kind()
        );
        let err = store.resume(id).await.unwrap_err();
        assert!(err.to_string().contains("no state to resume"), "{err}");
    }
}

#[tokio::test]
async fn unfinished_and_counts_reflect_the_rows() {
    for test in TestDb::all().await {
        let store = TenantStore::new(test.db.clone());
        store.ensure_for_user("alice", "roost-u-aaa").await.unwrap();
        store.ensure_for_user("bob", "roost-u-bbb").await.unwrap();
        store.ensure_for_user("carol", "roost-u-ccc").await.unwrap();
        for (from, to) in [
            (TenantState::Pending, TenantState::AppCreated),
            (TenantState::AppCreated, TenantState::VolumeCreated),
            (TenantState::VolumeCreated, TenantState::MachineCreated),
            (TenantState::MachineCreated, TenantState::Ready),
        ] {
            store
                .transition("roost-u-bbb", from, to, &Learned::default(), None)
                .await
                .unwrap();
        }
        store
            .transition(
                "roost-u-ccc",
                TenantState::Pending,
                TenantState::AppCreated,
                &Learned::default(),
                None,
            )
            .await
            .unwrap();

        let unfinished: Vec<String> = store
            .unfinished()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(unfinished.len(), 2, "{:?}", test.kind());
        assert!(unfinished.contains(&"roost-u-aaa".to_owned()));
        assert!(unfinished.contains(&"roost-u-ccc".to_owned()));

        let mut counts = store.count_by_state().await.unwrap();
        counts.sort_by_key(|(state, _)| state.as_str());
        assert_eq!(
            counts,
            [
                (TenantState::AppCreated, 1),
                (TenantState::Pending, 1),
                (TenantState::Ready, 1),
            ]
        );
    }
}

#[tokio::test]
async fn renaming_the_app_is_only_possible_before_it_exists() {
    for test in TestDb::all().await {
        let store = TenantStore::new(test.db.clone());
        let id = "roost-u-aaa";
        store.ensure_for_user("alice", id).await.unwrap();
        store
            .claim(id, OWNER_A, Duration::from_secs(60))
            .await
            .unwrap();
        store
            .rename_app(id, "roost-u-aaa-2", OWNER_A)
            .await
            .unwrap();
        assert_eq!(
            store.get(id).await.unwrap().unwrap().app_name,
            "roost-u-aaa-2"
        );
        store
            .transition(
                id,
                TenantState::Pending,
                TenantState::AppCreated,
                &learned_app(),
                Some(OWNER_A),
            )
            .await
            .unwrap();
        assert!(
            store
                .rename_app(id, "roost-u-aaa-3", OWNER_A)
                .await
                .is_err(),
            "{:?}",
            test.kind()
        );
        assert_eq!(
            store.get(id).await.unwrap().unwrap().app_name,
            "roost-u-aaa-2"
        );
    }
}

#[tokio::test]
async fn two_routers_on_one_database_share_one_tenant_and_one_claim() {
    for test in TestDb::all().await {
        let second = crate::db::Db::open(&test.url).await.unwrap();
        let (a, b) = (TenantStore::new(test.db.clone()), TenantStore::new(second));
        let (from_a, from_b) = tokio::join!(
            a.ensure_for_user("alice", "roost-u-aaa"),
            b.ensure_for_user("alice", "roost-u-aaa"),
        );
        assert_eq!(from_a.unwrap(), from_b.unwrap(), "{:?}", test.kind());

        let ttl = Duration::from_secs(60);
        let (claim_a, claim_b) = tokio::join!(
            a.claim("roost-u-aaa", OWNER_A, ttl),
            b.claim("roost-u-aaa", OWNER_B, ttl),
        );
        assert!(
            claim_a.unwrap() ^ claim_b.unwrap(),
            "exactly one router holds the claim"
        );
    }
}

#[tokio::test]
async fn listing_filters_by_state_and_is_bounded() {
    for test in TestDb::all().await {
        let store = TenantStore::new(test.db.clone());
        for (user, id) in [
            ("alice", "roost-u-aaa"),
            ("bob", "roost-u-bbb"),
            ("carol", "roost-u-ccc"),
        ] {
            store.ensure_for_user(user, id).await.unwrap();
        }
        store
            .fail("roost-u-bbb", TenantState::Pending, "boom", None)
            .await
            .unwrap();
        let failed = store.list(Some(TenantState::Failed), 10).await.unwrap();
        assert_eq!(failed.len(), 1, "{:?}", test.kind());
        assert_eq!(failed[0].id, "roost-u-bbb");
        assert_eq!(store.list(None, 10).await.unwrap().len(), 3);
        assert_eq!(store.list(None, 2).await.unwrap().len(), 2);
    }
}
