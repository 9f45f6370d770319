-- simledger-policies / billing: `billing_tp_destinations` (destinations staged under a tariff
-- plan ID by `SetTPDestination`) is now folded from `billing.tp_destination_staged` events, so
-- `simledger replay --projection billing` rebuilds it with billing's other tables.
COMMENT ON TABLE billing_tp_destinations IS
    'billing: folded from billing.tp_destination_staged; rebuilt by replay --projection billing';
