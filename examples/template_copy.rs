//! Copies every fingerprint template of one simulated terminal to another
//! with zkserver's own ZK client (users and templates read, then one batch
//! write under the `Disabled` guard), for `scripts/conformance.sh`: pyzk
//! then reads the target and compares it byte for byte with the source.
//!
//! Usage: `template_copy <source port> <target port> [udp]`, both on 127.0.0.1.

use std::time::Duration;

use zkserver::zk::{ConnectOptions, Session, DEFAULT_OPERATION_LIMIT};

fn connect(port: &str, udp: bool) -> Result<Session, Box<dyn std::error::Error>> {
    Ok(Session::connect(&ConnectOptions {
        host: "127.0.0.1".into(),
        port: port.parse()?,
        password: 0,
        timeout: Duration::from_secs(10),
        udp,
        operation_limit: DEFAULT_OPERATION_LIMIT,
    })?)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(from), Some(to)) = (args.get(1), args.get(2)) else {
        return Err("usage: template_copy <source port> <target port> [udp]".into());
    };
    let udp = args.get(3).is_some_and(|a| a == "udp");
    let mut source = connect(from, udp)?;
    let (users, format, templates) = {
        let mut d = source.disable()?;
        let (users, format) = d.users()?;
        let templates = d.templates()?;
        d.finish()?;
        (users, format, templates)
    };
    let format = format.ok_or("the source terminal holds no users")?;
    let owners: Vec<_> = users
        .into_iter()
        .filter(|u| templates.iter().any(|t| t.uid == u.uid))
        .collect();
    let mut target = connect(to, udp)?;
    let mut d = target.disable()?;
    d.write_templates(&owners, format, &templates)?;
    d.finish()?;
    println!(
        "copied {} templates of {} users",
        templates.len(),
        owners.len()
    );
    Ok(())
}
