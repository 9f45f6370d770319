-- simledger-policies / esim_installs: the profiles the eSIM installer may make SIMs of, as
-- `esim_profile.created` reserved them, and whether it already did.
CREATE TABLE esim_installer_profiles (
    esim_profile_sid text PRIMARY KEY,
    account_sid      text NOT NULL,
    iccid            text NOT NULL,
    sim_sid          text NOT NULL,
    imsis            text[] NOT NULL,
    installed        boolean NOT NULL DEFAULT false
);
