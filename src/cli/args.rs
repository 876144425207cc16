//! clap's own errors (a flag's value that does not parse, flags that
//! cannot go together, an unknown flag) said in Spanish, like zkserver's
//! other startup errors: what is wrong and what to change, naming the
//! environment variable when that is where the value came from.

use std::ffi::OsString;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, Command};

/// The Spanish startup error for clap's `err`; `cmd` is the program's
/// command (`Cli::command()`), `argv` the arguments as typed (program
/// name first) and `env` reads an environment variable.
pub fn spanish(
    err: &clap::Error,
    cmd: &Command,
    argv: &[OsString],
    env: &dyn Fn(&str) -> Option<OsString>,
) -> String {
    let ctx = Context {
        err,
        cmd: active_command(cmd, argv),
        root: cmd,
        argv,
        env,
    };
    let text = match err.kind() {
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => ctx.bad_value(),
        ErrorKind::ArgumentConflict => ctx.conflict(),
        ErrorKind::UnknownArgument => ctx.unknown("opción desconocida"),
        ErrorKind::InvalidSubcommand => ctx.unknown("subcomando desconocido"),
        ErrorKind::NoEquals => format!("{} necesita su valor tras '='", ctx.invalid_arg()),
        ErrorKind::TooManyValues => format!(
            "{} no admite el valor '{}'",
            ctx.invalid_arg(),
            ctx.string(ContextKind::InvalidValue)
        ),
        ErrorKind::TooFewValues | ErrorKind::WrongNumberOfValues => {
            format!("{}: número de valores incorrecto", ctx.invalid_arg())
        }
        ErrorKind::MissingRequiredArgument => {
            format!("falta {}", ctx.strings(ContextKind::InvalidArg).join(", "))
        }
        ErrorKind::MissingSubcommand => format!(
            "falta la acción de '{}': use {}",
            ctx.string(ContextKind::InvalidSubcommand),
            ctx.strings(ContextKind::ValidSubcommand).join(", ")
        ),
        ErrorKind::InvalidUtf8 => "un argumento no es texto UTF-8 válido".into(),
        _ => "argumentos inválidos".into(),
    };
    format!("{text}. Vea zkserver --help.")
}

/// The subcommand `argv` runs (e.g. `simulate`), else the program itself.
fn active_command<'a>(root: &'a Command, argv: &[OsString]) -> &'a Command {
    let mut current = root;
    for word in argv.iter().skip(1).filter_map(|a| a.to_str()) {
        if let Some(sub) = current.find_subcommand(word) {
            current = sub;
        }
    }
    current
}

/// An error and where to look up what it names.
struct Context<'a> {
    err: &'a clap::Error,
    cmd: &'a Command,
    root: &'a Command,
    argv: &'a [OsString],
    env: &'a dyn Fn(&str) -> Option<OsString>,
}

impl<'a> Context<'a> {
    /// One piece of the error's context, as text ("" when absent).
    fn string(&self, kind: ContextKind) -> String {
        self.strings(kind).join(", ")
    }

    /// A piece of the error's context that may hold several names.
    fn strings(&self, kind: ContextKind) -> Vec<String> {
        match self.err.get(kind) {
            Some(ContextValue::String(s)) => vec![s.clone()],
            Some(ContextValue::Strings(list)) => list.clone(),
            Some(ContextValue::StyledStr(s)) => vec![s.to_string()],
            Some(ContextValue::Number(n)) => vec![n.to_string()],
            _ => Vec::new(),
        }
    }

    /// The flag the error is about, described with where its value came from.
    fn invalid_arg(&self) -> String {
        self.describe(&self.string(ContextKind::InvalidArg))
    }

    /// `--port` as typed, or `la variable de entorno API_PORT (--port)`
    /// when the value came from there; `shown` is clap's `--port <PORT>`.
    fn describe(&self, shown: &str) -> String {
        let flag = shown.split_whitespace().next().unwrap_or(shown);
        match self.env_source(flag) {
            Some(var) => format!("la variable de entorno {var} ({flag})"),
            None => flag.to_string(),
        }
    }

    /// The environment variable that gave `flag` its value: the flag has
    /// one, it is set and the flag is not on the command line.
    fn env_source(&self, flag: &str) -> Option<String> {
        let long = flag.strip_prefix("--")?;
        let arg = self.find_arg(long)?;
        let var = arg.get_env()?.to_str()?.to_string();
        let typed = self
            .argv
            .iter()
            .skip(1)
            .filter_map(|a| a.to_str())
            .any(|a| {
                a == flag
                    || a.strip_prefix(flag)
                        .is_some_and(|rest| rest.starts_with('='))
            });
        ((self.env)(&var).is_some() && !typed).then_some(var)
    }

    /// The argument named `--long`, in the subcommand or the program.
    fn find_arg(&self, long: &str) -> Option<&Arg> {
        let named = |cmd: &'a Command| cmd.get_arguments().find(|a| a.get_long() == Some(long));
        named(self.cmd).or_else(|| named(self.root))
    }

    /// A value that is not one the flag takes: which, and what it takes.
    fn bad_value(&self) -> String {
        let shown = self.string(ContextKind::InvalidArg);
        let flag = shown
            .split_whitespace()
            .next()
            .unwrap_or(&shown)
            .to_string();
        let value = self.string(ContextKind::InvalidValue);
        let hint = self.expected(&flag);
        let hint = if hint.is_empty() {
            String::new()
        } else {
            format!(": {hint}")
        };
        match self.env_source(&flag) {
            Some(var) if value.is_empty() => format!(
                "la variable de entorno {var} ({flag}) está vacía{hint}; corríjala o bórrela"
            ),
            Some(var) => format!(
                "valor inválido '{value}' en la variable de entorno {var} ({flag}){hint}; corríjala o bórrela"
            ),
            None if value.is_empty() => format!("falta el valor de {flag}{hint}"),
            None => format!("valor inválido '{value}' para {flag}{hint}"),
        }
    }

    /// What the flag takes: its possible values, else what its type reads.
    fn expected(&self, flag: &str) -> String {
        let valid = self.strings(ContextKind::ValidValue);
        if !valid.is_empty() {
            return format!("use {}", valid.join(", "));
        }
        let by_type = flag
            .strip_prefix("--")
            .and_then(|long| self.find_arg(long))
            .and_then(expected_by_type);
        if let Some(text) = by_type {
            return text.into();
        }
        // A value parser of our own explains itself.
        std::error::Error::source(self.err)
            .map(ToString::to_string)
            .unwrap_or_default()
    }

    /// Two flags that cannot go together (or one given twice).
    fn conflict(&self) -> String {
        let first = self.invalid_arg();
        let others: Vec<String> = self
            .strings(ContextKind::PriorArg)
            .iter()
            .map(|o| self.describe(o))
            .collect();
        if others.is_empty() || others.contains(&first) {
            return format!("{first} se indicó más de una vez: déjelo una sola vez");
        }
        format!(
            "{first} y {} no pueden usarse a la vez: deje uno de los dos",
            others.join(", ")
        )
    }

    /// An unknown flag or word, with clap's suggestion if it has one.
    fn unknown(&self, what: &str) -> String {
        let word = match self.err.kind() {
            ErrorKind::InvalidSubcommand => self.string(ContextKind::InvalidSubcommand),
            _ => self.string(ContextKind::InvalidArg),
        };
        let suggested = [ContextKind::SuggestedArg, ContextKind::SuggestedSubcommand]
            .into_iter()
            .map(|k| self.string(k))
            .find(|s| !s.is_empty());
        match suggested {
            Some(s) => format!("{what}: '{word}' (¿quiso decir {s}?)"),
            None => format!("{what}: '{word}'"),
        }
    }
}

/// What a value of the argument's type looks like, in Spanish.
fn expected_by_type(arg: &Arg) -> Option<&'static str> {
    use std::any::TypeId;
    let id = arg.get_value_parser().type_id();
    let table: [(TypeId, &'static str); 7] = [
        (
            TypeId::of::<u16>(),
            "se espera un número entero de 0 a 65535",
        ),
        (
            TypeId::of::<u32>(),
            "se espera un número entero de 0 a 4294967295",
        ),
        (TypeId::of::<u64>(), "se espera un número entero positivo"),
        (TypeId::of::<usize>(), "se espera un número entero positivo"),
        (TypeId::of::<i32>(), "se espera un número entero"),
        (
            TypeId::of::<f64>(),
            "se espera un número, por ejemplo 30 o 2.5",
        ),
        (
            TypeId::of::<log::LevelFilter>(),
            "use off, error, warn, info, debug o trace",
        ),
    ];
    table
        .into_iter()
        .find(|(t, _)| id == *t)
        .map(|(_, text)| text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    #[command(name = "zkserver")]
    struct Demo {
        #[arg(long, env = "ZK_TEST_PORT", default_value_t = 5000)]
        port: u16,
        #[arg(long, default_value_t = 1.0)]
        timeout: f64,
        #[arg(long, env = "ZK_TEST_URL")]
        url: Option<String>,
        #[arg(long, env = "ZK_TEST_FILE", conflicts_with = "url")]
        file: Option<String>,
        #[arg(long, default_value = "info")]
        level: log::LevelFilter,
    }

    /// What zkserver says for `args` typed on the command line, with
    /// `vars` as the environment this module sees.
    fn said(args: &[&str], vars: &[(&str, &str)]) -> String {
        let argv: Vec<OsString> = std::iter::once("zkserver")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env = move |name: &str| {
            vars.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| OsString::from(v))
        };
        let cmd = <Demo as clap::CommandFactory>::command();
        let err = cmd
            .clone()
            .try_get_matches_from_mut(argv.clone())
            .expect_err("a clap error");
        spanish(&err, &cmd, &argv, &env)
    }

    #[test]
    fn a_value_that_does_not_parse_says_what_the_flag_takes() {
        let text = said(&["--port", "abc"], &[]);
        assert_eq!(
            text,
            "valor inválido 'abc' para --port: se espera un número entero de 0 a 65535. Vea zkserver --help."
        );
        let text = said(&["--timeout=mucho"], &[]);
        assert!(
            text.contains("'mucho' para --timeout: se espera un número"),
            "{text}"
        );
        let text = said(&["--level", "todo"], &[]);
        assert!(text.contains("use off, error, warn"), "{text}");
        let text = said(&["--port", ""], &[]);
        assert!(text.contains("--port"), "{text}");
        assert!(!text.contains("invalid"), "{text}");
    }

    #[test]
    fn a_typed_value_is_not_blamed_on_the_environment() {
        let text = said(&["--port", "x"], &[("ZK_TEST_PORT", "1")]);
        assert!(!text.contains("ZK_TEST_PORT"), "{text}");
        let text = said(&["--port=x"], &[("ZK_TEST_PORT", "1")]);
        assert!(!text.contains("ZK_TEST_PORT"), "{text}");
    }

    #[test]
    fn conflicts_and_unknown_flags_are_spanish() {
        let text = said(&["--url", "a", "--file", "b"], &[]);
        assert!(text.contains("no pueden usarse a la vez"), "{text}");
        assert!(text.contains("--url") && text.contains("--file"), "{text}");
        let text = said(&["--prot", "1"], &[]);
        assert!(text.contains("opción desconocida: '--prot'"), "{text}");
        assert!(text.contains("--port"), "suggested: {text}");
        for english in ["cannot be used", "unexpected", "invalid"] {
            assert!(!text.contains(english), "{text}");
        }
    }
}
