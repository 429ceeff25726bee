-- Every router polls for tenants changed since its last look (src/tenants/cache.rs), so a
-- change made on one router (a suspension, a deletion) reaches the others' caches promptly.
CREATE INDEX tenants_by_updated_at ON tenants (updated_at);
