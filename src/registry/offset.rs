//! UTC offsets as the devices file writes them (`-04:00`).

/// A UTC offset `±HH:MM` (or `±HH`, `±HHMM`) in minutes, within ±14 h.
pub fn parse_utc_offset(text: &str) -> Option<i32> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || rest.matches(':').count() > 1 {
        return None;
    }
    let (hours, minutes) = match digits.len() {
        2 => (digits.parse::<i32>().ok()?, 0),
        4 => (
            digits[..2].parse::<i32>().ok()?,
            digits[2..].parse::<i32>().ok()?,
        ),
        _ => return None,
    };
    let total = hours * 60 + minutes;
    (minutes < 60 && total <= 14 * 60).then_some(sign * total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_offsets() {
        assert_eq!(parse_utc_offset("-04:00"), Some(-240));
        assert_eq!(parse_utc_offset("+0530"), Some(330));
        assert_eq!(parse_utc_offset("+01"), Some(60));
        assert_eq!(parse_utc_offset("+14:00"), Some(840));
        for bad in [
            "", "04:00", "+4", "+04:60", "+14:01", "-04::00", "+ab:cd", "+é",
        ] {
            assert_eq!(parse_utc_offset(bad), None, "{bad}");
        }
    }
}
