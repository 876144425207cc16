//! A small xlsx (Office Open XML spreadsheet) writer: what reports need
//! and no more. A workbook is a zip of a few XML parts: the content types,
//! the package and workbook relationships, the workbook (its sheets'
//! names), the styles (bold header; date, date-time and `[h]:mm` number
//! formats) and one worksheet per view (header row frozen, column widths,
//! inline strings, numbers). Each part is deflated with miniz_oxide.
//!
//! Why not rust_xlsxwriter: it is the maintained, complete writer, but it
//! (with zip, zopfli and zlib-rs) added 0.83 MB to the x86_64 static
//! binary, beyond the 6 MB cap; this writer and miniz_oxide add a
//! fraction of that. Readers (Excel, LibreOffice, calamine) open it.

use std::fmt::Write as _;

use chrono::{NaiveDate, NaiveDateTime};

/// A value of a cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// Nothing (the cell is left out).
    Empty,
    /// Text.
    Text(&'a str),
    /// A number.
    Number(f64),
    /// A date (shown `yyyy-mm-dd`).
    Date(NaiveDate),
    /// A date and time (shown `yyyy-mm-dd hh:mm:ss`).
    DateTime(NaiveDateTime),
    /// A duration in days (shown `[h]:mm`, so sums give hours).
    Duration(f64),
}

/// Style indexes of `styles.xml`'s `cellXfs`.
mod style {
    pub const HEADER: u8 = 1;
    pub const DATE: u8 = 2;
    pub const DATE_TIME: u8 = 3;
    pub const DURATION: u8 = 4;
}

/// One worksheet being written.
pub struct SheetWriter {
    name: String,
    xml: String,
    rows: u32,
}

impl SheetWriter {
    /// A sheet called `name` (at most 31 characters, no `[]:*?/\`) with
    /// its header row (bold, frozen) and column widths in characters.
    pub fn new(name: &str, header: &[(&str, f64)]) -> SheetWriter {
        let mut xml = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
             <worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\">\
             <sheetViews><sheetView workbookViewId=\"0\">\
             <pane ySplit=\"1\" topLeftCell=\"A2\" activePane=\"bottomLeft\" state=\"frozen\"/>\
             <selection pane=\"bottomLeft\"/></sheetView></sheetViews>\
             <sheetFormatPr defaultRowHeight=\"15\"/><cols>",
        );
        for (i, (_, width)) in header.iter().enumerate() {
            let n = i + 1;
            let _ = write!(
                xml,
                "<col min=\"{n}\" max=\"{n}\" width=\"{width}\" customWidth=\"1\"/>"
            );
        }
        xml.push_str("</cols><sheetData>");
        let mut sheet = SheetWriter {
            name: name.to_string(),
            xml,
            rows: 0,
        };
        let titles: Vec<Value<'_>> = header.iter().map(|(t, _)| Value::Text(t)).collect();
        sheet.row_styled(&titles, Some(style::HEADER));
        sheet
    }

    /// Appends a row.
    pub fn row(&mut self, cells: &[Value<'_>]) {
        self.row_styled(cells, None);
    }

    /// Appends a row, every cell in `style` when given.
    fn row_styled(&mut self, cells: &[Value<'_>], forced: Option<u8>) {
        self.rows += 1;
        let r = self.rows;
        let _ = write!(self.xml, "<row r=\"{r}\">");
        for (c, value) in cells.iter().enumerate() {
            let at = format!("{}{r}", column_name(c));
            write_cell(&mut self.xml, &at, value, forced);
        }
        self.xml.push_str("</row>");
    }

    /// The worksheet's XML.
    fn finish(mut self) -> (String, String) {
        self.xml.push_str("</sheetData></worksheet>");
        (self.name, self.xml)
    }
}

/// Writes one cell (nothing for an empty one).
fn write_cell(xml: &mut String, at: &str, value: &Value<'_>, forced: Option<u8>) {
    let styled = |own: u8| forced.unwrap_or(own);
    let number = |xml: &mut String, n: f64, s: u8| {
        let s = styled(s);
        let _ = if s == 0 {
            write!(xml, "<c r=\"{at}\"><v>{n}</v></c>")
        } else {
            write!(xml, "<c r=\"{at}\" s=\"{s}\"><v>{n}</v></c>")
        };
    };
    match value {
        Value::Empty => {}
        Value::Text(t) => {
            let s = forced.map(|s| format!(" s=\"{s}\"")).unwrap_or_default();
            let _ = write!(
                xml,
                "<c r=\"{at}\" t=\"inlineStr\"{s}><is><t xml:space=\"preserve\">"
            );
            escape_into(xml, t);
            xml.push_str("</t></is></c>");
        }
        Value::Number(n) => number(xml, *n, 0),
        Value::Date(d) => number(
            xml,
            excel_days(d.and_time(chrono::NaiveTime::MIN)),
            style::DATE,
        ),
        Value::DateTime(t) => number(xml, excel_days(*t), style::DATE_TIME),
        Value::Duration(days) => number(xml, *days, style::DURATION),
    }
}

/// Excel's serial number of `t`: days since 1899-12-30 (right for every
/// date from March 1900 on), the time as a fraction of a day.
pub fn excel_days(t: NaiveDateTime) -> f64 {
    let epoch = NaiveDate::from_ymd_opt(1899, 12, 30)
        .unwrap_or_default()
        .and_time(chrono::NaiveTime::MIN);
    (t - epoch).num_seconds() as f64 / 86_400.0
}

/// `A`, `B`, … `Z`, `AA`, … for column index `c` (from 0).
fn column_name(mut c: usize) -> String {
    let mut name = Vec::new();
    loop {
        name.push(b'A' + u8::try_from(c % 26).unwrap_or(0));
        if c < 26 {
            break;
        }
        c = c / 26 - 1;
    }
    name.reverse();
    String::from_utf8(name).unwrap_or_default()
}

/// `text` as XML character data: markup escaped, characters XML 1.0
/// cannot carry (control characters but tab and line breaks) left out.
fn escape_into(xml: &mut String, text: &str) {
    for ch in text.chars() {
        match ch {
            '&' => xml.push_str("&amp;"),
            '<' => xml.push_str("&lt;"),
            '>' => xml.push_str("&gt;"),
            '"' => xml.push_str("&quot;"),
            '\t' | '\n' | '\r' => xml.push(ch),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => xml.push(c),
        }
    }
}

/// The styles: 0 normal, 1 bold header, 2 date, 3 date-time, 4 duration.
const STYLES: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
<styleSheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\">\
<numFmts count=\"3\"><numFmt numFmtId=\"164\" formatCode=\"yyyy\\-mm\\-dd\"/>\
<numFmt numFmtId=\"165\" formatCode=\"yyyy\\-mm\\-dd\\ hh:mm:ss\"/>\
<numFmt numFmtId=\"166\" formatCode=\"[h]:mm\"/></numFmts>\
<fonts count=\"2\"><font><sz val=\"11\"/><name val=\"Calibri\"/><family val=\"2\"/></font>\
<font><b/><sz val=\"11\"/><name val=\"Calibri\"/><family val=\"2\"/></font></fonts>\
<fills count=\"2\"><fill><patternFill patternType=\"none\"/></fill>\
<fill><patternFill patternType=\"gray125\"/></fill></fills>\
<borders count=\"1\"><border><left/><right/><top/><bottom/><diagonal/></border></borders>\
<cellStyleXfs count=\"1\"><xf numFmtId=\"0\" fontId=\"0\" fillId=\"0\" borderId=\"0\"/></cellStyleXfs>\
<cellXfs count=\"5\"><xf numFmtId=\"0\" fontId=\"0\" fillId=\"0\" borderId=\"0\" xfId=\"0\"/>\
<xf numFmtId=\"0\" fontId=\"1\" fillId=\"0\" borderId=\"0\" xfId=\"0\" applyFont=\"1\"/>\
<xf numFmtId=\"164\" fontId=\"0\" fillId=\"0\" borderId=\"0\" xfId=\"0\" applyNumberFormat=\"1\"/>\
<xf numFmtId=\"165\" fontId=\"0\" fillId=\"0\" borderId=\"0\" xfId=\"0\" applyNumberFormat=\"1\"/>\
<xf numFmtId=\"166\" fontId=\"0\" fillId=\"0\" borderId=\"0\" xfId=\"0\" applyNumberFormat=\"1\"/>\
</cellXfs><cellStyles count=\"1\"><cellStyle name=\"Normal\" xfId=\"0\" builtinId=\"0\"/></cellStyles>\
</styleSheet>";

/// The workbook of `sheets` (in order) as xlsx bytes.
pub fn workbook(sheets: Vec<SheetWriter>) -> Vec<u8> {
    let sheets: Vec<(String, String)> = sheets.into_iter().map(SheetWriter::finish).collect();
    let head = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n";
    let mut types = format!(
        "{head}<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
         <Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>\
         <Default Extension=\"xml\" ContentType=\"application/xml\"/>\
         <Override PartName=\"/xl/workbook.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/>\
         <Override PartName=\"/xl/styles.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml\"/>"
    );
    let mut names = String::new();
    let mut rels = format!(
        "{head}<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
    );
    for (i, (name, _)) in sheets.iter().enumerate() {
        let n = i + 1;
        let _ = write!(
            types,
            "<Override PartName=\"/xl/worksheets/sheet{n}.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/>"
        );
        names.push_str("<sheet name=\"");
        escape_into(&mut names, name);
        let _ = write!(names, "\" sheetId=\"{n}\" r:id=\"rId{n}\"/>");
        let _ = write!(
            rels,
            "<Relationship Id=\"rId{n}\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet\" Target=\"worksheets/sheet{n}.xml\"/>"
        );
    }
    types.push_str("</Types>");
    let _ = write!(
        rels,
        "<Relationship Id=\"rId{}\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles\" Target=\"styles.xml\"/></Relationships>",
        sheets.len() + 1
    );
    let book = format!(
        "{head}<workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" \
         xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\">\
         <bookViews><workbookView/></bookViews><sheets>{names}</sheets></workbook>"
    );
    let package_rels = format!(
        "{head}<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">\
         <Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" Target=\"xl/workbook.xml\"/></Relationships>"
    );
    let mut zip = Zip::default();
    zip.add("[Content_Types].xml", types.as_bytes());
    zip.add("_rels/.rels", package_rels.as_bytes());
    zip.add("xl/workbook.xml", book.as_bytes());
    zip.add("xl/_rels/workbook.xml.rels", rels.as_bytes());
    zip.add("xl/styles.xml", STYLES.as_bytes());
    for (i, (_, xml)) in sheets.into_iter().enumerate() {
        zip.add(&format!("xl/worksheets/sheet{}.xml", i + 1), xml.as_bytes());
    }
    zip.finish()
}

/// A zip archive being written in memory: deflated entries, no zip64
/// (a report is far below 4 GB).
#[derive(Default)]
struct Zip {
    out: Vec<u8>,
    central: Vec<u8>,
    entries: u16,
}

/// 1980-01-01 00:00 in MS-DOS form (time, date): a fixed stamp, so the
/// same report gives the same bytes.
const DOS_TIME: (u16, u16) = (0, (1 << 5) | 1);

impl Zip {
    /// Adds the file `name` holding `data`, deflated.
    fn add(&mut self, name: &str, data: &[u8]) {
        let packed = miniz_oxide::deflate::compress_to_vec(data, 6);
        let crc = crc32(data);
        let offset = u32::try_from(self.out.len()).unwrap_or(u32::MAX);
        let size = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let name_len = u16::try_from(name.len()).unwrap_or(u16::MAX);
        // Local header.
        put32(&mut self.out, 0x0403_4b50);
        let common = |v: &mut Vec<u8>| {
            put16(v, 20); // version needed: 2.0
            put16(v, 0x0800); // flags: names in UTF-8
            put16(v, 8); // deflate
            put16(v, DOS_TIME.0);
            put16(v, DOS_TIME.1);
            put32(v, crc);
            put32(v, size(packed.len()));
            put32(v, size(data.len()));
            put16(v, name_len);
            put16(v, 0); // extra
        };
        common(&mut self.out);
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(&packed);
        // Central directory entry.
        put32(&mut self.central, 0x0201_4b50);
        put16(&mut self.central, 20); // made by 2.0
        common(&mut self.central);
        put16(&mut self.central, 0); // comment
        put16(&mut self.central, 0); // disk
        put16(&mut self.central, 0); // internal attributes
        put32(&mut self.central, 0); // external attributes
        put32(&mut self.central, offset);
        self.central.extend_from_slice(name.as_bytes());
        self.entries += 1;
    }

    /// The archive: entries, central directory, end record.
    fn finish(mut self) -> Vec<u8> {
        let at = u32::try_from(self.out.len()).unwrap_or(u32::MAX);
        let size = u32::try_from(self.central.len()).unwrap_or(u32::MAX);
        self.out.extend_from_slice(&self.central);
        put32(&mut self.out, 0x0605_4b50);
        put16(&mut self.out, 0);
        put16(&mut self.out, 0);
        put16(&mut self.out, self.entries);
        put16(&mut self.out, self.entries);
        put32(&mut self.out, size);
        put32(&mut self.out, at);
        put16(&mut self.out, 0);
        self.out
    }
}

fn put16(v: &mut Vec<u8>, n: u16) {
    v.extend_from_slice(&n.to_le_bytes());
}

fn put32(v: &mut Vec<u8>, n: u32) {
    v.extend_from_slice(&n.to_le_bytes());
}

/// CRC-32 (IEEE 802.3, as zip uses it).
fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 == 1 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    !data
        .iter()
        .fold(!0u32, |c, b| TABLE[usize::from((c as u8) ^ b)] ^ (c >> 8))
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{open_workbook_from_rs, Data, Reader, Xlsx};

    #[test]
    fn crc32_and_column_names_are_the_standard_ones() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        let names: Vec<String> = [0, 25, 26, 27, 701, 702].map(column_name).to_vec();
        assert_eq!(names, ["A", "Z", "AA", "AB", "ZZ", "AAA"]);
        let t = NaiveDate::from_ymd_opt(2026, 12, 7)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap();
        assert!((excel_days(t) - 46363.5).abs() < 1e-12);
    }

    #[test]
    fn the_header_row_is_frozen_bold_and_the_columns_sized() {
        let (name, xml) = SheetWriter::new("Día", &[("Fecha", 11.0), ("Nombre", 24.5)]).finish();
        assert_eq!(name, "Día");
        assert!(xml.contains(
            "<pane ySplit=\"1\" topLeftCell=\"A2\" activePane=\"bottomLeft\" state=\"frozen\"/>"
        ));
        assert!(xml.contains("<col min=\"1\" max=\"1\" width=\"11\" customWidth=\"1\"/>"));
        assert!(xml.contains("<col min=\"2\" max=\"2\" width=\"24.5\" customWidth=\"1\"/>"));
        assert!(xml.contains(
            "<c r=\"B1\" t=\"inlineStr\" s=\"1\"><is><t xml:space=\"preserve\">Nombre</t></is></c>"
        ));
    }

    #[test]
    fn a_reader_opens_the_workbook_with_its_values() {
        let t = NaiveDate::from_ymd_opt(2026, 12, 7)
            .unwrap()
            .and_hms_opt(8, 12, 0)
            .unwrap();
        let mut sheet = SheetWriter::new("Días", &[("Nombre", 20.0), ("Entrada", 19.0)]);
        sheet.row(&[Value::Text("Peña <&> \"x\"\u{1}"), Value::DateTime(t)]);
        sheet.row(&[Value::Empty, Value::Duration(1.5)]);
        let other = SheetWriter::new("Totales", &[("ID", 8.0)]);
        let bytes = workbook(vec![sheet, other]);
        let mut book: Xlsx<_> = open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(book.sheet_names(), ["Días", "Totales"]);
        let range = book.worksheet_range("Días").unwrap();
        assert_eq!(range.get((0, 0)), Some(&Data::String("Nombre".into())));
        assert_eq!(
            range.get((1, 0)),
            Some(&Data::String("Peña <&> \"x\"".into()))
        );
        match range.get((1, 1)) {
            Some(Data::DateTime(d)) => {
                assert!((d.as_f64() - (46363.0 + 492.0 / 1440.0)).abs() < 1e-9);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(range.get((2, 0)), Some(&Data::Empty));
        match range.get((2, 1)) {
            Some(Data::DateTime(d)) => assert!((d.as_f64() - 1.5).abs() < 1e-12),
            other => panic!("{other:?}"),
        }
    }
}
