use serde::Serialize;

/// One measured figure and the same-run reference it is a ratio of.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: String,
    pub reference: Option<f64>,
    pub ratio: Option<f64>,
    #[serde(skip)]
    pub reference_name: String,
}

impl Figure {
    pub fn against(name: &str, value: f64, unit: &str, reference_name: &str, reference: f64) -> Self {
        Self {
            name: name.into(),
            value,
            unit: unit.into(),
            reference: Some(reference),
            ratio: Some(if reference > 0.0 { value / reference } else { 0.0 }),
            reference_name: reference_name.into(),
        }
    }

    pub fn plain(name: &str, value: f64, unit: &str) -> Self {
        Self {
            name: name.into(),
            value,
            unit: unit.into(),
            reference: None,
            ratio: None,
            reference_name: String::new(),
        }
    }
}

/// Prints the figures as a table, or as one JSON object per line.
pub fn print(figures: &[Figure], json: bool) {
    if json {
        for f in figures {
            println!("{}", serde_json::to_string(f).expect("figures serialize"));
        }
        return;
    }
    // Columns as wide as their longest entry, so long figure names keep the table aligned.
    let name = figures.iter().map(|f| f.name.len()).max().unwrap_or(0).max("figure".len());
    let of = figures.iter().map(|f| f.reference_name.len()).max().unwrap_or(0).max("(of)".len());
    println!("{:<name$} {:>14} {:<9} {:>14}  {:<of$} {:>7}", "figure", "value", "unit", "reference", "(of)", "ratio");
    for f in figures {
        let reference =
            f.reference.map(|r| if r < 100.0 { format!("{r:.2}") } else { format!("{r:.0}") }).unwrap_or_default();
        let ratio = f.ratio.map(|r| format!("{r:.3}")).unwrap_or_default();
        println!(
            "{:<name$} {:>14.2} {:<9} {:>14}  {:<of$} {:>7}",
            f.name, f.value, f.unit, reference, f.reference_name, ratio
        );
    }
}
