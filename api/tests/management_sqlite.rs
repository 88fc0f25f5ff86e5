//! The management API (`host.primal.pds.*`) over SQLite files in a temporary directory: every scenario of
//! [`management_suite`] against a real server on 127.0.0.1.

mod management_suite;

use management_suite::Harness;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_rules() {
    let h = Harness::sqlite().await;
    management_suite::auth_rules(&h).await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domain_lifecycle() {
    let h = Harness::sqlite().await;
    management_suite::domain_lifecycle(&h).await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_lifecycle() {
    let h = Harness::sqlite().await;
    management_suite::account_lifecycle(&h).await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_domain_rolls_back() {
    let h = Harness::sqlite().await;
    management_suite::add_domain_rolls_back(&h).await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_domain_rolls_back_on_traefik_failure() {
    let h = Harness::sqlite().await;
    management_suite::add_domain_rolls_back_on_traefik_failure(&h).await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_accounts_paging() {
    let h = Harness::sqlite().await;
    management_suite::list_accounts_paging(&h).await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn races_have_one_winner() {
    let h = Harness::sqlite().await;
    management_suite::races_have_one_winner(&h).await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plc_directory_down() {
    let h = Harness::sqlite_with_plc(management_suite::DEAD_PLC).await;
    management_suite::plc_directory_down(&h).await;
    h.finish().await;
}
