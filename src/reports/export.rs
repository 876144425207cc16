//! Reports as files people open in a spreadsheet: CSV (UTF-8 with a BOM,
//! `;` separators, CSV-injection neutralised: a Spanish-locale Excel opens
//! it in columns) and xlsx workbooks (one sheet per view; dates, times and
//! durations as Excel values with a number format, so sums work; the
//! header row frozen; column widths set). Both come from one [`Sheet`].

use chrono::{Datelike, NaiveDate, Timelike};
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, Worksheet, XlsxError};

use super::day::DayRow;
use super::month::{MonthSheet, Totals};
use super::presence::PresenceRow;
use super::workday::State;
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

/// The formats of a workbook's cells.
struct Formats {
    header: Format,
    date: Format,
    time: Format,
    duration: Format,
}

impl Formats {
    fn new() -> Formats {
        Formats {
            header: Format::new().set_bold(),
            date: Format::new().set_num_format("yyyy-mm-dd"),
            time: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
            duration: Format::new().set_num_format("[h]:mm"),
        }
    }
}

/// The sheets as an xlsx workbook.
pub fn xlsx(sheets: &[Sheet]) -> Result<Vec<u8>, XlsxError> {
    let mut workbook = Workbook::new();
    let formats = Formats::new();
    for sheet in sheets {
        let worksheet = workbook.add_worksheet();
        worksheet.set_name(sheet.name)?;
        write_sheet(worksheet, sheet, &formats)?;
    }
    workbook.save_to_buffer()
}

/// Writes one view: header (bold, frozen), widths, rows.
fn write_sheet(ws: &mut Worksheet, sheet: &Sheet, formats: &Formats) -> Result<(), XlsxError> {
    for (c, column) in (0u16..).zip(sheet.columns) {
        ws.write_string_with_format(0, c, column.title, &formats.header)?;
        ws.set_column_width(c, column.width)?;
    }
    ws.set_freeze_panes(1, 0)?;
    for (r, row) in (1u32..).zip(&sheet.rows) {
        for (c, cell) in (0u16..).zip(row) {
            write_cell(ws, r, c, cell, formats)?;
        }
    }
    Ok(())
}

/// Writes one value as its Excel type (nothing for an empty value).
fn write_cell(
    ws: &mut Worksheet,
    r: u32,
    c: u16,
    cell: &Cell,
    formats: &Formats,
) -> Result<(), XlsxError> {
    match cell {
        Cell::Text(t) if t.is_empty() => {}
        Cell::Text(t) => {
            ws.write_string(r, c, t)?;
        }
        Cell::Date(d) => {
            ws.write_datetime_with_format(r, c, excel_date(*d)?, &formats.date)?;
        }
        Cell::Time(Some(t)) => {
            let n = t.naive();
            let excel = excel_date(n.date())?.and_hms(
                u16::try_from(n.hour()).unwrap_or(0),
                u8::try_from(n.minute()).unwrap_or(0),
                n.second(),
            )?;
            ws.write_datetime_with_format(r, c, excel, &formats.time)?;
        }
        Cell::Time(None) | Cell::Number(None) => {}
        Cell::Duration(m) => {
            ws.write_number_with_format(r, c, f64::from(*m) / 1440.0, &formats.duration)?;
        }
        Cell::Number(Some(n)) => {
            ws.write_number(r, c, f64::from(*n))?;
        }
    }
    Ok(())
}

/// A date as an Excel date.
fn excel_date(d: NaiveDate) -> Result<ExcelDateTime, XlsxError> {
    ExcelDateTime::from_ymd(
        u16::try_from(d.year()).unwrap_or(1900),
        u8::try_from(d.month()).unwrap_or(1),
        u8::try_from(d.day()).unwrap_or(1),
    )
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
        let bytes = xlsx(&month_sheets(&month)).unwrap();
        assert_eq!(&bytes[..2], b"PK");
    }
}
