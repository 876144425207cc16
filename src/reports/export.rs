//! Reports as files people open in a spreadsheet: CSV (UTF-8 with a BOM,
//! `;` separators, CSV-injection neutralised: a Spanish-locale Excel opens
//! it in columns) and xlsx workbooks (one sheet per view; dates, times and
//! durations as Excel values with a number format, so sums work; the
//! header row frozen; column widths set: [`super::xlsx`]). Both come from
//! one [`Sheet`].

use chrono::NaiveDate;

use super::day::DayRow;
use super::month::{MonthSheet, Totals};
use super::presence::PresenceRow;
use super::workday::State;
use super::xlsx::{SheetWriter, Value as XlsxValue};
use crate::time::WallTime;

/// One value of a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text (names, ids, states).
    Text(String),
    /// A calendar date.
    Date(NaiveDate),
    /// A local time, or nothing.
    Time(Option<WallTime>),
    /// Minutes of work: a number of minutes in CSV, `[h]:mm` in xlsx.
    Duration(u32),
    /// A whole number, or nothing.
    Number(Option<u32>),
}

/// A column: its title and width (in characters, for xlsx).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Column {
    /// The header.
    pub title: &'static str,
    /// Width in characters.
    pub width: f64,
    /// Holds durations (CSV says "(min)", xlsx shows `[h]:mm`).
    pub duration: bool,
}

/// One view: a named table.
#[derive(Debug, Clone, PartialEq)]
pub struct Sheet {
    /// The sheet's name (at most 31 characters).
    pub name: &'static str,
    /// The columns.
    pub columns: &'static [Column],
    /// The rows, each with one cell per column.
    pub rows: Vec<Vec<Cell>>,
}

/// A column of values.
const fn col(title: &'static str, width: f64) -> Column {
    Column {
        title,
        width,
        duration: false,
    }
}

/// A column of durations.
const fn dur(title: &'static str, width: f64) -> Column {
    Column {
        title,
        width,
        duration: true,
    }
}

/// The columns of a day row.
const DAY_COLUMNS: &[Column] = &[
    col("Fecha", 11.0),
    col("ID", 8.0),
    col("Nombre", 24.0),
    col("Áreas", 14.0),
    col("Entrada", 19.0),
    col("Salida", 19.0),
    col("Marcaciones", 10.0),
    dur("Trabajado", 12.0),
    col("Estado", 11.0),
    col("Retraso (min)", 12.0),
    col("Salida anticipada (min)", 14.0),
    col("Terminales", 18.0),
];

/// The columns of a person's month totals.
const TOTAL_COLUMNS: &[Column] = &[
    col("ID", 8.0),
    col("Nombre", 24.0),
    col("Días trabajados", 10.0),
    dur("Trabajado", 12.0),
    col("Retrasos", 9.0),
    col("Retraso (min)", 12.0),
];

/// The columns of the presence list.
const PRESENCE_COLUMNS: &[Column] = &[
    col("ID", 8.0),
    col("Nombre", 24.0),
    col("Desde", 19.0),
    col("Terminal", 14.0),
    col("Nombre del terminal", 24.0),
];

/// A state as its contract name.
fn state_name(state: State) -> &'static str {
    match state {
        State::Completo => "completo",
        State::Incompleto => "incompleto",
        State::Ausente => "ausente",
        State::Libre => "libre",
    }
}

/// A count as a `u32` (saturating).
fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The cells of a day row.
fn day_cells(r: &DayRow) -> Vec<Cell> {
    let date = crate::time::parse_date(&r.date);
    vec![
        date.map_or_else(|| Cell::Text(r.date.clone()), Cell::Date),
        Cell::Text(r.user_id.clone()),
        Cell::Text(r.name.clone().unwrap_or_default()),
        Cell::Text(r.areas.join(", ")),
        Cell::Time(r.first_in),
        Cell::Time(r.last_out),
        Cell::Number(Some(count(r.punches.len()))),
        Cell::Duration(r.worked),
        Cell::Text(state_name(r.state).to_string()),
        Cell::Number(r.late_minutes),
        Cell::Number(r.early_leave_minutes),
        Cell::Text(r.devices.join(", ")),
    ]
}

/// The cells of a person's totals.
fn total_cells(t: &Totals) -> Vec<Cell> {
    vec![
        Cell::Text(t.user_id.clone()),
        Cell::Text(t.name.clone().unwrap_or_default()),
        Cell::Number(Some(t.days_worked)),
        Cell::Duration(t.worked),
        Cell::Number(Some(t.late_count)),
        Cell::Number(Some(t.late_minutes)),
    ]
}

/// The day sheet's view.
pub fn day_sheets(rows: &[DayRow]) -> Vec<Sheet> {
    vec![Sheet {
        name: "Día",
        columns: DAY_COLUMNS,
        rows: rows.iter().map(day_cells).collect(),
    }]
}

/// The month's views: the day rows, then the totals.
pub fn month_sheets(month: &MonthSheet) -> Vec<Sheet> {
    vec![
        Sheet {
            name: "Días",
            columns: DAY_COLUMNS,
            rows: month.data.iter().map(day_cells).collect(),
        },
        Sheet {
            name: "Totales",
            columns: TOTAL_COLUMNS,
            rows: month.totals.iter().map(total_cells).collect(),
        },
    ]
}

/// The presence list's view.
pub fn presence_sheets(rows: &[PresenceRow]) -> Vec<Sheet> {
    vec![Sheet {
        name: "Presentes",
        columns: PRESENCE_COLUMNS,
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    Cell::Text(r.user_id.clone()),
                    Cell::Text(r.name.clone().unwrap_or_default()),
                    Cell::Time(Some(r.since)),
                    Cell::Text(r.device_id.clone()),
                    Cell::Text(r.device_name.clone()),
                ]
            })
            .collect(),
    }]
}

/// The CSV separator of reports.
const SEPARATOR: char = ';';

/// The sheets as one CSV file: a BOM, then each sheet's header and rows
/// (sheets after the first follow an empty line). Durations in minutes.
pub fn csv(sheets: &[Sheet]) -> Vec<u8> {
    let mut out = "\u{feff}".as_bytes().to_vec();
    for (i, sheet) in sheets.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\r\n");
        }
        let titles = sheet.columns.iter().map(csv_title);
        write_line(&mut out, titles);
        for row in &sheet.rows {
            write_line(&mut out, row.iter().map(csv_text));
        }
    }
    out
}

/// A column title in CSV: durations say their unit.
fn csv_title(column: &Column) -> String {
    if column.duration {
        format!("{} (min)", column.title)
    } else {
        column.title.to_string()
    }
}

/// One CSV line of `cells`, CRLF-terminated.
fn write_line(out: &mut Vec<u8>, cells: impl Iterator<Item = String>) {
    for (i, cell) in cells.enumerate() {
        if i > 0 {
            out.push(b';');
        }
        crate::punch::csv_cell(out, &cell, SEPARATOR);
    }
    out.extend_from_slice(b"\r\n");
}

/// A cell as CSV text.
fn csv_text(cell: &Cell) -> String {
    match cell {
        Cell::Text(t) => t.clone(),
        Cell::Date(d) => d.format("%Y-%m-%d").to_string(),
        Cell::Time(t) => t.map(|t| t.to_string()).unwrap_or_default(),
        Cell::Duration(m) => m.to_string(),
        Cell::Number(n) => n.map(|n| n.to_string()).unwrap_or_default(),
    }
}

/// The sheets as an xlsx workbook (see [`super::xlsx`]). Each row's
/// cells are freed once written.
pub fn xlsx(sheets: Vec<Sheet>) -> Vec<u8> {
    let writers = sheets.into_iter().map(write_sheet).collect();
    super::xlsx::workbook(writers)
}

/// One view as a worksheet: header (bold, frozen), widths, rows.
fn write_sheet(sheet: Sheet) -> SheetWriter {
    let header: Vec<(&str, f64)> = sheet.columns.iter().map(|c| (c.title, c.width)).collect();
    let mut writer = SheetWriter::new(sheet.name, &header);
    for row in sheet.rows {
        let values: Vec<XlsxValue<'_>> = row.iter().map(xlsx_value).collect();
        writer.row(&values);
    }
    writer
}

/// A cell as its Excel value (empty text and missing values: no cell).
fn xlsx_value(cell: &Cell) -> XlsxValue<'_> {
    match cell {
        Cell::Text(t) if t.is_empty() => XlsxValue::Empty,
        Cell::Text(t) => XlsxValue::Text(t),
        Cell::Date(d) => XlsxValue::Date(*d),
        Cell::Time(Some(t)) => XlsxValue::DateTime(t.naive()),
        Cell::Time(None) | Cell::Number(None) => XlsxValue::Empty,
        Cell::Duration(m) => XlsxValue::Duration(f64::from(*m) / 1440.0),
        Cell::Number(Some(n)) => XlsxValue::Number(f64::from(*n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> DayRow {
        let t = |s| WallTime::parse(s).unwrap();
        DayRow {
            date: "2026-12-07".into(),
            user_id: "=1+1".into(),
            name: Some("Peña; \"Ana\"".into()),
            areas: vec!["oficina".into()],
            first_in: Some(t("2026-12-07 08:12:00")),
            last_out: None,
            punches: vec![t("2026-12-07 08:12:00")],
            worked: 0,
            state: State::Incompleto,
            late_minutes: Some(12),
            early_leave_minutes: None,
            devices: vec!["entrada".into()],
        }
    }

    #[test]
    fn csv_has_a_bom_semicolons_and_neutralised_cells() {
        let text = String::from_utf8(csv(&day_sheets(&[row()]))).unwrap();
        let mut lines = text.split("\r\n");
        assert_eq!(
            lines.next().unwrap(),
            "\u{feff}Fecha;ID;Nombre;Áreas;Entrada;Salida;Marcaciones;Trabajado (min);Estado;\
             Retraso (min);Salida anticipada (min);Terminales"
        );
        assert_eq!(
            lines.next().unwrap(),
            "2026-12-07;'=1+1;\"Peña; \"\"Ana\"\"\";oficina;2026-12-07 08:12:00;;1;0;incompleto;12;;entrada"
        );
        assert_eq!(lines.next(), Some(""));
    }

    #[test]
    fn a_workbook_is_a_zip_with_one_sheet_per_view() {
        let month = MonthSheet {
            month: "2026-12".into(),
            data: vec![row()],
            totals: vec![],
        };
        let bytes = xlsx(month_sheets(&month));
        assert_eq!(&bytes[..2], b"PK");
    }
}
