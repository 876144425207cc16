//! What a bad report rule or schedule is told as.

use crate::reports::rules::{RuleError, MAX_DOUBLE_PUNCH, MAX_TOLERANCE};

/// The Spanish message for a rule or schedule that cannot be used.
pub fn rule_error(e: &RuleError) -> String {
    match e {
        RuleError::DayStart(text) => {
            format!("Inicio de jornada inválido: '{text}'. Use HH:MM, por ejemplo 06:00.")
        }
        RuleError::DoublePunch(text) => format!(
            "Intervalo de marcación doble inválido: '{text}'. Use segundos de 0 a {MAX_DOUBLE_PUNCH}."
        ),
        RuleError::NotAnObject => "El horario debe ser un objeto JSON con 'start', 'end', 'tolerance' y 'days'.".to_string(),
        RuleError::UnknownField(name) => format!("Campo '{name}' desconocido en el horario."),
        RuleError::MissingField(name) => format!("Falta el campo '{name}' del horario."),
        RuleError::Time { field, value } => {
            format!("Campo '{field}' inválido: {value}. Use HH:MM, por ejemplo 08:00.")
        }
        RuleError::Tolerance(value) => format!(
            "Campo 'tolerance' inválido: {value}. Debe ser un número entero de minutos entre 0 y {MAX_TOLERANCE}."
        ),
        RuleError::Days(value) => format!(
            "Campo 'days' inválido: {value}. Debe ser una lista de días de la semana sin repetir, de 1 (lunes) a 7 (domingo)."
        ),
        RuleError::EmptyShift => {
            "El horario no puede empezar y terminar a la misma hora.".to_string()
        }
    }
}

/// A bad `date` parameter.
pub fn bad_date(text: &str) -> String {
    format!("Parámetro 'date' inválido: '{text}'. Use YYYY-MM-DD, por ejemplo 2026-12-07.")
}

/// A bad `month` parameter.
pub fn bad_month(text: &str) -> String {
    format!("Parámetro 'month' inválido: '{text}'. Use YYYY-MM, por ejemplo 2026-12.")
}

/// A bad `format` parameter (`allowed` lists the formats of the route).
pub fn bad_format(text: &str, allowed: &str) -> String {
    format!("Parámetro 'format' inválido: '{text}'. Use {allowed}.")
}

/// `date` or `month` is required.
pub fn missing_param(name: &str) -> String {
    format!("Falta el parámetro '{name}'.")
}

/// Both `area` and `user_id` given to a schedule.
pub const SCHEDULE_TWO_SCOPES: &str =
    "Indique 'area' o 'user_id', no ambos: un horario es del servidor, de un área o de una persona.";

/// An empty `area` or `user_id` on a schedule.
pub fn empty_scope(name: &str) -> String {
    format!("Parámetro '{name}' vacío: indique un valor o quítelo.")
}

/// The period holds too many punches for one report.
pub fn too_many_punches(max: u64) -> String {
    format!(
        "El periodo tiene más de {max} marcaciones: pida un periodo más corto o filtre por 'user_id'."
    )
}

/// A workbook that could not be written.
pub const XLSX_FAILED: &str =
    "No se pudo generar el libro de Excel; el detalle está en el registro del servidor.";

/// A schedule stored.
pub fn schedule_saved(scope: &str) -> String {
    format!("Horario {scope} guardado.")
}

/// A schedule removed.
pub fn schedule_removed(scope: &str) -> String {
    format!("Horario {scope} eliminado.")
}

/// There was no such schedule to remove.
pub fn schedule_not_found(scope: &str) -> String {
    format!("No hay horario {scope}.")
}

/// How a scope is named in messages.
pub fn scope_name(scope: &crate::journal::ScheduleScope) -> String {
    use crate::journal::ScheduleScope;
    match scope {
        ScheduleScope::Default => "del servidor".to_string(),
        ScheduleScope::Area(a) => format!("del área '{a}'"),
        ScheduleScope::Person(u) => format!("de la persona '{u}'"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::rules::{DayStart, DoublePunch, Schedule};
    use serde_json::json;

    fn schedule_error(value: &serde_json::Value) -> String {
        rule_error(&Schedule::from_json(value).unwrap_err())
    }

    #[test]
    fn each_bad_rule_is_told_in_spanish_naming_what_is_wrong() {
        assert_eq!(
            rule_error(&DayStart::parse("6").unwrap_err()),
            "Inicio de jornada inválido: '6'. Use HH:MM, por ejemplo 06:00."
        );
        assert_eq!(
            rule_error(&DoublePunch::parse("1m").unwrap_err()),
            "Intervalo de marcación doble inválido: '1m'. Use segundos de 0 a 3600."
        );
        let cases = [
            (json!("08:00"), "El horario debe ser un objeto JSON con 'start', 'end', 'tolerance' y 'days'."),
            (json!({"start": "08:00", "end": "17:00", "x": 1}), "Campo 'x' desconocido en el horario."),
            (json!({"start": "08:00"}), "Falta el campo 'end' del horario."),
            (json!({"start": "8", "end": "17:00"}), "Campo 'start' inválido: \"8\". Use HH:MM, por ejemplo 08:00."),
            (
                json!({"start": "08:00", "end": "17:00", "tolerance": 1.5}),
                "Campo 'tolerance' inválido: 1.5. Debe ser un número entero de minutos entre 0 y 120.",
            ),
            (
                json!({"start": "08:00", "end": "17:00", "days": [8]}),
                "Campo 'days' inválido: [8]. Debe ser una lista de días de la semana sin repetir, de 1 (lunes) a 7 (domingo).",
            ),
            (json!({"start": "08:00", "end": "08:00"}), "El horario no puede empezar y terminar a la misma hora."),
        ];
        for (value, expected) in cases {
            assert_eq!(schedule_error(&value), expected);
        }
    }
}
