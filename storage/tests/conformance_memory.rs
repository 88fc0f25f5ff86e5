//! The conformance suite on the in-memory backend (the reference).

use primal_pds_storage::conformance;
use primal_pds_storage::memory::MemoryBackend;
use primal_pds_storage::{TenantBackend, conformance::fresh_domain};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_suite() {
    let backend = MemoryBackend::new();
    let domain = fresh_domain();
    backend.create_tenant(&domain).await.expect("create");
    conformance::store_suite(backend.tenant_store(&domain).await.expect("store")).await;
}

#[tokio::test]
async fn tenant_lifecycle() {
    conformance::tenant_lifecycle(&MemoryBackend::new()).await;
}

#[tokio::test]
async fn tenant_isolation() {
    conformance::tenant_isolation(&MemoryBackend::new()).await;
}

#[tokio::test]
async fn blob_index_suite() {
    primal_pds_storage::blob_conformance::blob_index_suite(&MemoryBackend::new()).await;
}

#[tokio::test]
async fn account_suite() {
    conformance::account_suite(&MemoryBackend::new()).await;
}

#[tokio::test]
async fn session_suite() {
    conformance::session_suite(&MemoryBackend::new()).await;
}
