-- Regional breakout: a fleet's breakout region (NULL: the platform's default), and usage kept
-- per breakout region so it can be grouped by it ('' for sessions logged before regions).
ALTER TABLE registry_fleets ADD COLUMN breakout_region text;

ALTER TABLE usage_hourly ADD COLUMN breakout_region text NOT NULL DEFAULT '';
ALTER TABLE usage_hourly DROP CONSTRAINT usage_hourly_pkey;
ALTER TABLE usage_hourly ADD PRIMARY KEY (sim_sid, network_sid, fleet_sid, breakout_region, hour);
