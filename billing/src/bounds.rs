//! The range every amount, price and unit accepted from outside must lie in. Decimal arithmetic
//! panics on overflow, and the folds that price and debit are shared by every tenant: values
//! are bounded where they enter (a command refuses them with these messages), and the
//! arithmetic on them is checked where a product of two bounded values can still overflow.

use rust_decimal::Decimal;

/// The largest balance value, action amount or trigger threshold, either sign (10^15).
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(0xA4C6_8000, 0x0003_8D7E, 0, false, 0);
/// The largest price per rate unit (10^9).
pub const MAX_PRICE: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);
/// The smallest rate unit or increment (10^-6).
pub const MIN_UNIT: Decimal = Decimal::from_parts(1, 0, 0, false, 6);
/// The largest rate unit or increment, and the largest usage of one CDR (10^18).
pub const MAX_UNIT: Decimal = Decimal::from_parts(0xA764_0000, 0x0DE0_B6B3, 0, false, 0);
/// The largest weight or factor (10^9).
pub const MAX_WEIGHT: Decimal = MAX_PRICE;

/// The longest ID of a definition (timing, shared group), in bytes.
pub const MAX_ID_LEN: usize = 256;

/// The most shared groups or timings one balance names.
pub const MAX_BALANCE_LABELS: usize = 16;

/// A balance's shared groups or timing IDs: at most [`MAX_BALANCE_LABELS`], each an ID of at
/// most [`MAX_ID_LEN`] bytes (they key rows every tenant's billing writes).
fn labels<'a>(field: &str, ids: impl ExactSizeIterator<Item = &'a String>) -> Result<(), String> {
    if ids.len() > MAX_BALANCE_LABELS {
        return Err(format!("{field} names at most {MAX_BALANCE_LABELS}"));
    }
    for id in ids {
        if id.is_empty() || id.len() > MAX_ID_LEN || id.chars().any(char::is_control) {
            return Err(format!("{field}: {:?} is not an ID of 1 to {MAX_ID_LEN} bytes", simledger_ids::shown(id)));
        }
    }
    Ok(())
}

/// `value` is no larger than `max` in size; says which field is not.
pub fn within(field: &str, value: Decimal, max: Decimal) -> Result<(), String> {
    if value.abs() > max {
        return Err(format!("{field} {value} is out of range (at most {max} either way)"));
    }
    Ok(())
}

impl crate::Action {
    /// Checks the action's amounts, weights and factors.
    pub fn check_bounds(&self) -> Result<(), String> {
        within("Weight", self.weight, MAX_WEIGHT)?;
        let b = &self.balance;
        if let Some(v) = b.value {
            within("Units", v, MAX_AMOUNT)?;
        }
        if let Some(w) = b.weight {
            within("BalanceWeight", w, MAX_WEIGHT)?;
        }
        if let Some(groups) = &b.shared_groups {
            labels("SharedGroups", groups.iter())?;
        }
        if let Some(timings) = &b.timing_ids {
            labels("TimingIDs", timings.keys())?;
        }
        for (id, f) in b.factors.iter().flatten() {
            within(&format!("Factor {id}"), *f, MAX_WEIGHT)?;
            if *f <= Decimal::ZERO {
                return Err(format!("Factor {id} must be more than 0"));
            }
        }
        Ok(())
    }
}

impl crate::ActionTrigger {
    /// Checks the trigger's threshold and weight.
    pub fn check_bounds(&self) -> Result<(), String> {
        within("ThresholdValue", self.threshold_value, MAX_AMOUNT)?;
        within("Weight", self.weight, MAX_WEIGHT)?;
        if let Some(v) = self.balance.value {
            within("BalanceValue", v, MAX_AMOUNT)?;
        }
        Ok(())
    }
}

impl crate::RateDef {
    /// Checks the price and the unit sizes.
    pub fn check_bounds(&self) -> Result<(), String> {
        within("Rate", self.rate, MAX_PRICE)?;
        for (field, v) in [("RateUnit", self.rate_unit), ("RateIncrement", self.rate_increment)] {
            if v < MIN_UNIT || v > MAX_UNIT {
                return Err(format!("{field} {v} is out of range ({MIN_UNIT} to {MAX_UNIT})"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bounds_are_the_powers_of_ten_they_say() {
        assert_eq!(MAX_AMOUNT, Decimal::from(10i64.pow(15)));
        assert_eq!(MAX_PRICE, Decimal::from(10i64.pow(9)));
        assert_eq!(MIN_UNIT, Decimal::new(1, 6));
        assert_eq!(MAX_UNIT, Decimal::from(10i64.pow(18)));
    }

    #[test]
    fn the_largest_cost_of_bounded_inputs_does_not_overflow() {
        let rate = crate::Rate { price: MAX_PRICE, unit: Decimal::ONE, increment: Decimal::ONE, rounding_decimals: 4 };
        assert_eq!(rate.cost(Decimal::from(1_000_000)), Some(Decimal::from(1_000_000) * MAX_PRICE));
        assert_eq!(rate.cost(MAX_UNIT), None, "more than any balance holds: refused, not a panic");
        let tiny = crate::Rate { price: MAX_PRICE, unit: MIN_UNIT, increment: MIN_UNIT, rounding_decimals: 4 };
        assert_eq!(tiny.cost(MAX_UNIT), None, "too large to price: refused, not a panic");
    }
}
