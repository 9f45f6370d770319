//! Where a country is: its capital, to about a degree. The device-signals decider judges
//! impossible travel by it (countries not listed are never judged: no signal rather than a wrong
//! one), and the simulator models user-plane distance to a breakout region by it.

/// `(ISO 3166 alpha-2, latitude, longitude)`.
const CAPITALS: &[(&str, f64, f64)] = &[
    ("AE", 24.5, 54.4),
    ("AR", -34.6, -58.4),
    ("AT", 48.2, 16.4),
    ("AU", -35.3, 149.1),
    ("BD", 23.8, 90.4),
    ("BE", 50.8, 4.4),
    ("BG", 42.7, 23.3),
    ("BR", -15.8, -47.9),
    ("CA", 45.4, -75.7),
    ("CH", 46.9, 7.4),
    ("CL", -33.4, -70.7),
    ("CN", 39.9, 116.4),
    ("CO", 4.7, -74.1),
    ("CZ", 50.1, 14.4),
    ("DE", 52.5, 13.4),
    ("DK", 55.7, 12.6),
    ("DZ", 36.8, 3.1),
    ("EE", 59.4, 24.8),
    ("EG", 30.0, 31.2),
    ("ES", 40.4, -3.7),
    ("FI", 60.2, 24.9),
    ("FR", 48.9, 2.4),
    ("GB", 51.5, -0.1),
    ("GR", 38.0, 23.7),
    ("HK", 22.3, 114.2),
    ("HR", 45.8, 16.0),
    ("HU", 47.5, 19.0),
    ("ID", -6.2, 106.8),
    ("IE", 53.3, -6.3),
    ("IL", 31.8, 35.2),
    ("IN", 28.6, 77.2),
    ("IS", 64.1, -21.9),
    ("IT", 41.9, 12.5),
    ("JP", 35.7, 139.7),
    ("KE", -1.3, 36.8),
    ("KR", 37.6, 127.0),
    ("LT", 54.7, 25.3),
    ("LU", 49.6, 6.1),
    ("LV", 56.9, 24.1),
    ("MA", 34.0, -6.8),
    ("MX", 19.4, -99.1),
    ("MY", 3.1, 101.7),
    ("NG", 9.1, 7.5),
    ("NL", 52.4, 4.9),
    ("NO", 59.9, 10.8),
    ("NZ", -41.3, 174.8),
    ("PE", -12.0, -77.0),
    ("PH", 14.6, 121.0),
    ("PK", 33.7, 73.1),
    ("PL", 52.2, 21.0),
    ("PR", 18.5, -66.1),
    ("PT", 38.7, -9.1),
    ("RO", 44.4, 26.1),
    ("RS", 44.8, 20.5),
    ("SA", 24.7, 46.7),
    ("SE", 59.3, 18.1),
    ("SG", 1.3, 103.8),
    ("SI", 46.1, 14.5),
    ("SK", 48.1, 17.1),
    ("TH", 13.8, 100.5),
    ("TR", 39.9, 32.9),
    ("TW", 25.0, 121.6),
    ("UA", 50.5, 30.5),
    ("US", 38.9, -77.0),
    ("VN", 21.0, 105.8),
    ("ZA", -25.7, 28.2),
];

/// A country's capital, `(latitude, longitude)`, if known.
pub fn capital(iso_country: &str) -> Option<(f64, f64)> {
    CAPITALS.iter().find(|(c, _, _)| c.eq_ignore_ascii_case(iso_country)).map(|&(_, la, lo)| (la, lo))
}

/// The great-circle distance in km between two countries' capitals, if both are known.
pub fn distance_km(a: &str, b: &str) -> Option<f64> {
    Some(great_circle_km(capital(a)?, capital(b)?))
}

/// The great-circle distance in km between two `(latitude, longitude)` points.
pub fn great_circle_km((lat1, lon1): (f64, f64), (lat2, lon2): (f64, f64)) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let (dp, dl) = ((lat2 - lat1).to_radians(), (lon2 - lon1).to_radians());
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_are_about_right() {
        let london_new_york = distance_km("GB", "US").unwrap();
        assert!((5800.0..6000.0).contains(&london_new_york), "{london_new_york}");
        assert!(distance_km("DE", "de").unwrap() < 1.0);
        assert_eq!(distance_km("DE", "XX"), None);
        for (a, _, _) in CAPITALS {
            assert_eq!(a.len(), 2);
            assert_eq!(CAPITALS.iter().filter(|(b, _, _)| a == b).count(), 1, "{a} once");
        }
    }
}
