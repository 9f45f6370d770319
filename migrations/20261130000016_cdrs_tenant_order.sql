-- A tenant's CDRs after a cursor: the online exporters' look for work, every 200 ms.
CREATE INDEX cdrs_tenant_order_id ON cdrs (tenant, order_id);
