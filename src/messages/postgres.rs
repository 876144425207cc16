//! What the PostgreSQL delivery says to people: a URL that cannot be used.

use crate::postgres::TargetError;

/// A PostgreSQL URL that cannot be used, and how to write it.
pub fn target_error(e: &TargetError) -> String {
    match e {
        TargetError::Scheme => "la URL de PostgreSQL debe empezar con postgresql:// (por ejemplo postgresql://usuario@servidor:5432/base)".into(),
        TargetError::TwoAts => {
            "la URL de PostgreSQL tiene más de una @: escriba una @ de la contraseña como %40".into()
        }
        TargetError::SslMode(mode) => format!(
            "sslmode inválido en la URL de PostgreSQL: '{mode}' (use disable, prefer, require, verify-ca o verify-full)"
        ),
        TargetError::Driver(detail) => format!("URL de PostgreSQL inválida: {detail}"),
        TargetError::NoHost => "la URL de PostgreSQL no tiene servidor (host)".into(),
        TargetError::NoUser => "la URL de PostgreSQL no tiene usuario".into(),
        TargetError::NoTls => {
            "este binario no incluye TLS: use sslmode=disable en la URL de PostgreSQL".into()
        }
    }
}
