-- simledger-policies / esim_installs: every ICCID and IMSI a SIM already holds (folded from
-- `sim.provisioned`), so an installed profile never makes a second SIM with one of them; and
-- reservations that failed, which are never installed.
CREATE TABLE esim_installer_taken (
    value text PRIMARY KEY
);
ALTER TABLE esim_installer_profiles ADD COLUMN failed boolean NOT NULL DEFAULT false;

-- simledger-projections / device_commands: a new reservation's IMSI (its ICCID's last ten
-- digits) is checked against every other reservation's.
CREATE INDEX device_esim_profiles_iccid_tail ON device_esim_profiles (right(iccid, 10));
