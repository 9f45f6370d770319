-- A CDR is identified within its tenant, as (tenant, CGRID, RunID): one tenant's CGRID never
-- blocks another's. Source is part of the key too, and the platform's own sources
-- (`simledger-core`, `*cdrlog`) are refused to customers, so a customer who picks the CGRID
-- of a CDR the core is about to write cannot pre-empt it.
ALTER TABLE cdrs DROP CONSTRAINT cdrs_pkey;
ALTER TABLE cdrs ADD PRIMARY KEY (tenant, cgrid, run_id, source);
