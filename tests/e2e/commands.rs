//! The command API of push terminals: users and clock changes queued as
//! commands (202), the queue read back with statuses and return-code
//! messages, 404s, the 409s of pull, forwarded and unsupported cases, the
//! users list from the journal's copy, expiry, and commands surviving a
//! restart of the binary. The terminal's side (the `/iclock` receiver) is
//! played by calling the journal directly, as the receiver does.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::common::process::{start_server, terminate};
use crate::common::*;
use serde_json::{json, Value};
use zkserver::journal::{Command, Journal, MarkOutcome};
use zkserver::push::commands::apply_completed;
use zkserver::registry::{parse_devices, Registry};
use zkserver::time::now as local_now;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "zkserver-commands-{name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A push terminal, a forwarded push terminal and a pull terminal (never
/// reached: every answer tested here comes before any terminal I/O).
const DEVICES: &str = r#"{
    "recepcion": {"mode": "push", "sn": "CKJ0000001", "name": "Recepción"},
    "sucursal": {"mode": "push", "sn": "CKJ0000002", "name": "Sucursal",
                 "push_forward": "http://127.0.0.1:9/"},
    "principal": {"ip": "127.0.0.1", "port": 9, "name": "Principal"}
}"#;

/// A server over [`DEVICES`] with a journal in `dir` (and `--push-forward`
/// when given).
fn push_env(dir: &Scratch, forward: Option<&str>) -> (Env, Arc<Journal>) {
    let journal = Arc::new(Journal::open(dir.file("punches.db")).expect("journal opens"));
    let registry = Registry::in_memory(parse_devices(DEVICES).expect("devices"));
    let j = journal.clone();
    let forward = forward.map(str::to_string);
    let env = serve(vec![], registry, move |s| {
        s.journal = Some(j);
        s.push_forward = forward;
    });
    (env, journal)
}

/// The terminal polls: takes up to `max` pending commands, in order.
fn terminal_takes(journal: &Journal, device: &str, max: u32) -> Vec<Command> {
    let cmds = journal.next_commands(device, max).expect("next commands");
    let ids: Vec<i64> = cmds.iter().map(|c| c.id).collect();
    journal
        .mark_sent(device, &ids, local_now())
        .expect("mark sent");
    cmds
}

/// The terminal reports `code` for command `id`; a completed user command
/// updates the journal's copy, as the receiver does.
fn terminal_reports(journal: &Journal, device: &str, id: i64, code: i64) {
    match journal
        .mark_result(device, id, code, local_now())
        .expect("mark result")
    {
        MarkOutcome::Updated(cmd) => apply_completed(journal, &cmd, local_now()).expect("copy"),
        other => panic!("result for command {id} not recorded: {other:?}"),
    }
}

/// `POST`s `body` to `url`, asserts the 202 shape and returns the command id.
fn queued(url: &str, method: &str, body: Value, device: &str) -> i64 {
    let (status, answer) = send(method, url, body);
    assert_eq!(status, 202, "{method} {url}: {answer}");
    assert_eq!(answer["success"], true);
    assert_eq!(
        answer["message"],
        format!("Comando encolado para '{device}'.")
    );
    let cmd = answer["command"].as_object().expect("command object");
    let keys: Vec<&str> = cmd.keys().map(String::as_str).collect();
    assert_eq!(keys, ["id", "status", "created_at"], "{answer}");
    assert_eq!(cmd["status"], "pendiente");
    assert_eq!(
        cmd["created_at"].as_str().map(str::len),
        Some(19),
        "{answer}"
    );
    cmd["id"].as_i64().expect("numeric id")
}

/// The text of command `id` as the API shows it.
fn command_text(base: &str, device: &str, id: i64) -> String {
    let (status, body) = get(&format!("{base}/devices/{device}/commands/{id}"));
    assert_eq!(status, 200, "{body}");
    body["data"]["command"]
        .as_str()
        .expect("command text")
        .to_string()
}

/// Asserts a JSON error with exactly this status and message.
fn assert_error(got: &(i32, Value), status: i32, message: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["success"], false, "{}", got.1);
    assert_eq!(got.1["error"], message, "{}", got.1);
}

#[test]
fn user_changes_and_sync_time_on_a_push_terminal_are_queued() {
    let dir = Scratch::new("users");
    let (env, journal) = push_env(&dir, None);
    let users = format!("{}/devices/recepcion/users", env.base);

    // Nothing known yet: the copy is empty, and changes need a known user.
    let (status, body) = get(&users);
    assert_eq!((status, &body["total"]), (200, &json!(0)), "{body}");
    for method in ["PUT", "DELETE"] {
        let body = if method == "PUT" {
            json!({"name": "X"})
        } else {
            Value::Null
        };
        assert_error(
            &send(method, &format!("{users}/77"), body),
            404,
            "Usuario '77' no encontrado.",
        );
    }

    let created = queued(
        &users,
        "POST",
        json!({"user_id": "4242", "name": "Iñigo", "privilege": 14, "card": 998877, "password": "123"}),
        "recepcion",
    );
    assert_eq!(
        command_text(&env.base, "recepcion", created),
        "DATA UPDATE USERINFO PIN=4242\tName=Iñigo\tPri=14\tPasswd=***\tCard=998877"
    );
    let minimal = queued(
        &users,
        "POST",
        json!({"user_id": 7, "name": "Ana"}),
        "recepcion",
    );
    assert_eq!(
        command_text(&env.base, "recepcion", minimal),
        "DATA UPDATE USERINFO PIN=7\tName=Ana\tPri=0\tPasswd=\tCard="
    );

    // Bodies are checked as for pull terminals, with the same messages;
    // none of these queues anything.
    let bad = [
        (json!({"name": "Sin id"}), "user_id y name son requeridos."),
        (
            json!({"user_id": "a b", "name": "x"}),
            "Campo 'user_id' inválido: 'a b'. Use de 1 a 24 letras o números.",
        ),
        (
            json!({"user_id": "1", "name": "n".repeat(25)}),
            "Campo 'name' inválido: debe tener de 1 a 24 caracteres.",
        ),
        (
            json!({"user_id": "1", "name": "x", "password": "123456789"}),
            "Campo 'password' inválido: hasta 8 letras o números.",
        ),
        (
            json!({"user_id": "1", "name": "x", "privilege": 99}),
            "Campo 'privilege' inválido: debe ser un número entero entre 0 y 15.",
        ),
        (
            json!({"user_id": "1", "name": "a\tPri=14"}),
            "Campo 'name' inválido: no puede contener tabuladores, saltos de línea ni otros caracteres de control.",
        ),
    ];
    for (body, message) in bad {
        assert_error(&send("POST", &users, body), 400, message);
    }
    assert_error(&request("POST", &users, None), 400, "Body JSON requerido.");
    let (_, list) = get(&format!("{}/devices/recepcion/commands", env.base));
    assert_eq!(list["total"], 2, "{list}");
    assert!(!list.to_string().contains("Passwd=123"), "{list}");

    // The terminal takes both (with the real password) and completes them:
    // the copy knows the users, and the list answers from it in the shape
    // of a pull terminal's list.
    let taken = terminal_takes(&journal, "recepcion", 10);
    assert!(taken[0].command.contains("\tPasswd=123\t"));
    let taken: Vec<i64> = taken.iter().map(|c| c.id).collect();
    assert_eq!(taken, vec![created, minimal]);
    terminal_reports(&journal, "recepcion", created, 0);
    terminal_reports(&journal, "recepcion", minimal, 0);
    let (status, body) = get(&users);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"success": true, "total": 2, "data": [
            {"uid": null, "user_id": "7", "name": "Ana", "privilege": 0, "card": 0, "device_id": "recepcion"},
            {"uid": null, "user_id": "4242", "name": "Iñigo", "privilege": 14, "card": 998877, "device_id": "recepcion"},
        ]})
    );

    // PUT merges the changes over the copy: the terminal replaces the record.
    let updated = queued(
        &format!("{users}/4242"),
        "PUT",
        json!({"name": "Íñigo Pérez"}),
        "recepcion",
    );
    assert_eq!(
        command_text(&env.base, "recepcion", updated),
        "DATA UPDATE USERINFO PIN=4242\tName=Íñigo Pérez\tPri=14\tPasswd=***\tCard=998877"
    );
    assert_error(
        &send("PUT", &format!("{users}/4242"), json!({"privilege": "x"})),
        400,
        "Campo 'privilege' inválido: debe ser un número entero entre 0 y 15.",
    );
    let deleted = queued(&format!("{users}/7"), "DELETE", Value::Null, "recepcion");
    assert_eq!(
        command_text(&env.base, "recepcion", deleted),
        "DATA DELETE USERINFO PIN=7"
    );

    // sync-time: a CHECK (the terminal takes the server's clock); a valid
    // timestamp cannot be honoured, an invalid one is refused as for pull.
    let sync = format!("{}/devices/recepcion/sync-time", env.base);
    let check = queued(&sync, "POST", Value::Null, "recepcion");
    assert_eq!(command_text(&env.base, "recepcion", check), "CHECK");
    assert_error(
        &send("POST", &sync, json!({"timestamp": "2026-02-30 08:00:00"})),
        400,
        "Campo 'timestamp' inválido: '2026-02-30 08:00:00'. Use YYYY-MM-DD HH:MM:SS (años 2000 a 2099).",
    );
    assert_error(
        &send("POST", &sync, json!({"timestamp": "2026-03-01 08:00:00"})),
        409,
        "El terminal 'recepcion' es push: toma la hora del servidor al sincronizar y no admite 'timestamp'; envíe el body vacío.",
    );

    // Delivered in the order they were queued.
    let next: Vec<i64> = journal
        .next_commands("recepcion", 10)
        .expect("next")
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(next, vec![updated, deleted, check]);
}

#[test]
fn the_queue_shows_statuses_and_return_code_messages_newest_first() {
    let dir = Scratch::new("queue");
    let (env, journal) = push_env(&dir, None);
    let sync = format!("{}/devices/recepcion/sync-time", env.base);
    let outcomes: [(i64, Option<&str>); 13] = [
        (0, None),
        (-1, Some("Parámetros inválidos o sin datos que coincidan.")),
        (-3, Some("Error de lectura o escritura en el terminal.")),
        (-10, Some("El usuario no existe en el terminal.")),
        (-1001, Some("Capacidad del terminal excedida.")),
        (-1002, Some("No soportado por el terminal.")),
        (-1003, Some("Tiempo de espera agotado en el terminal.")),
        (
            -1004,
            Some("Los datos no coinciden con la configuración del terminal."),
        ),
        (-1005, Some("El terminal está ocupado.")),
        (-1006, Some("Datos demasiado largos para el terminal.")),
        (-1007, Some("El terminal se quedó sin memoria.")),
        (
            -99,
            Some("El terminal respondió con el código de error -99."),
        ),
        (1, Some("El terminal respondió con el código de error 1.")),
    ];
    // One command per outcome, one left sent, one left pending.
    let ids: Vec<i64> = (0..outcomes.len() + 2)
        .map(|_| queued(&sync, "POST", Value::Null, "recepcion"))
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let taken = terminal_takes(&journal, "recepcion", (outcomes.len() + 1) as u32);
    assert_eq!(
        taken.iter().map(|c| c.id).collect::<Vec<_>>(),
        ids[..=outcomes.len()],
        "delivered oldest first"
    );
    for (id, (code, _)) in ids.iter().zip(&outcomes) {
        terminal_reports(&journal, "recepcion", *id, *code);
    }

    let (status, body) = get(&format!("{}/devices/recepcion/commands", env.base));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["total"], ids.len());
    let data = body["data"].as_array().expect("data");
    let listed: Vec<i64> = data.iter().map(|c| c["id"].as_i64().unwrap()).collect();
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(listed, newest_first);

    let pending = &data[0];
    assert_eq!(pending["status"], "pendiente");
    assert_eq!(pending["command"], "CHECK");
    for absent in ["return", "message", "sent_at", "done_at"] {
        assert!(pending.get(absent).is_none(), "{pending}");
    }
    let sent = &data[1];
    assert_eq!(sent["status"], "enviado");
    assert!(
        sent["sent_at"].is_string() && sent.get("done_at").is_none(),
        "{sent}"
    );
    for (cmd, (code, message)) in data[2..].iter().rev().zip(&outcomes) {
        let want = if *code == 0 { "completado" } else { "fallido" };
        assert_eq!(cmd["status"], want, "{cmd}");
        assert_eq!(cmd["return"], *code, "{cmd}");
        assert_eq!(
            cmd.get("message").and_then(Value::as_str),
            *message,
            "{cmd}"
        );
        assert!(
            cmd["sent_at"].is_string() && cmd["done_at"].is_string(),
            "{cmd}"
        );
        let keys: Vec<&str> = cmd
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut want_keys = vec!["id", "command", "status", "return"];
        if message.is_some() {
            want_keys.push("message");
        }
        want_keys.extend(["created_at", "sent_at", "done_at"]);
        assert_eq!(keys, want_keys);
    }

    // One command, and the ones that are not there.
    let not_supported = ids[5];
    let (status, one) = get(&format!(
        "{}/devices/recepcion/commands/{not_supported}",
        env.base
    ));
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["success"], true);
    assert_eq!(one["data"]["status"], "fallido");
    assert_eq!(one["data"]["return"], -1002);
    assert_eq!(one["data"]["message"], "No soportado por el terminal.");
    for n in ["999999", "abc", "0", "-1"] {
        assert_error(
            &get(&format!("{}/devices/recepcion/commands/{n}", env.base)),
            404,
            &format!("Comando '{n}' no encontrado en 'recepcion'."),
        );
    }
    // Another push device's command is not this device's.
    journal
        .enqueue_command("otro", "CHECK", local_now())
        .expect("queue");
    let other = journal.list_commands("otro").expect("list")[0].id;
    assert_error(
        &get(&format!("{}/devices/recepcion/commands/{other}", env.base)),
        404,
        &format!("Comando '{other}' no encontrado en 'recepcion'."),
    );
    assert_error(
        &get(&format!("{}/devices/nadie/commands", env.base)),
        404,
        "Dispositivo 'nadie' no encontrado.",
    );
    // /metrics counts commands of every device by state.
    let metrics = minreq::get(format!("{}/metrics", env.base))
        .with_timeout(30)
        .send()
        .expect("metrics");
    let text = metrics.as_str().expect("text");
    for state in ["pendiente", "enviado", "completado", "fallido", "caducado"] {
        assert!(
            text.contains(&format!("zkserver_push_commands{{state=\"{state}\"}} ")),
            "{state}: {text}"
        );
    }
    // Every family once: Prometheus refuses a family declared twice.
    let mut families: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE ")).collect();
    let declared = families.len();
    families.sort_unstable();
    families.dedup();
    assert_eq!(families.len(), declared, "{text}");
    assert!(
        !text.contains("zkserver_push_commands{state=\"pendiente\"} 0\n"),
        "the queued CHECK of 'otro' is pending: {text}"
    );
}

#[test]
fn pull_forwarded_and_unsupported_cases_answer_409() {
    let dir = Scratch::new("refused");
    let (env, journal) = push_env(&dir, None);
    let base = &env.base;
    for path in ["commands", "commands/1"] {
        assert_error(
            &get(&format!("{base}/devices/principal/{path}")),
            409,
            "El dispositivo 'principal' es un terminal pull: se le habla directamente y no tiene cola de comandos.",
        );
    }
    let upstream = "El terminal 'sucursal' recibe sus comandos de http://127.0.0.1:9/.";
    let user = json!({"user_id": "1", "name": "Ana"});
    let refused = [
        ("GET", "commands", Value::Null),
        ("GET", "commands/1", Value::Null),
        ("POST", "users", user.clone()),
        ("PUT", "users/1", user.clone()),
        ("DELETE", "users/1", Value::Null),
        ("POST", "sync-time", Value::Null),
    ];
    for (method, path, body) in &refused {
        assert_error(
            &send(
                method,
                &format!("{base}/devices/sucursal/{path}"),
                body.clone(),
            ),
            409,
            upstream,
        );
    }
    let unsupported = [
        ("GET", "info", "no se le puede consultar directamente; vea /devices/recepcion/status (datos de su último contacto)."),
        ("GET", "time", "su hora no se puede leer a pedido; POST /devices/recepcion/sync-time la iguala a la del servidor."),
        ("GET", "users/1/fingers", "no informa al servidor las huellas de cada usuario."),
        ("POST", "users/1/enroll-finger", "no admite iniciar el enrolamiento de huellas desde el servidor; enrole en el propio terminal."),
    ];
    for (method, path, why) in unsupported {
        assert_error(
            &send(
                method,
                &format!("{base}/devices/recepcion/{path}"),
                Value::Null,
            ),
            409,
            &format!("El terminal 'recepcion' es push: {why}"),
        );
    }
    assert!(journal.list_commands("sucursal").expect("list").is_empty());
    assert!(journal.list_commands("recepcion").expect("list").is_empty());
    drop(env);

    // --push-forward sends every push terminal's commands to that server.
    let (env, journal) = push_env(&dir, Some("http://10.9.9.9:8081"));
    assert_error(
        &send(
            "POST",
            &format!("{}/devices/recepcion/users", env.base),
            user,
        ),
        409,
        "El terminal 'recepcion' recibe sus comandos de http://10.9.9.9:8081.",
    );
    // A device's own push_forward wins over the flag.
    assert_error(
        &get(&format!("{}/devices/sucursal/commands", env.base)),
        409,
        upstream,
    );
    assert!(journal.list_commands("recepcion").expect("list").is_empty());
}

#[test]
fn commands_not_taken_within_seven_days_expire() {
    let dir = Scratch::new("expiry");
    let old_id;
    let recent_id;
    {
        let journal = Journal::open(dir.file("punches.db")).expect("journal");
        let now = local_now();
        old_id = journal
            .enqueue_command("recepcion", "CHECK", now - chrono::Duration::days(8))
            .expect("queue")
            .id;
        recent_id = journal
            .enqueue_command("recepcion", "CHECK", now - chrono::Duration::days(6))
            .expect("queue")
            .id;
    }
    // The sweep runs when the server starts.
    let (env, journal) = push_env(&dir, None);
    let url = |id: i64| format!("{}/devices/recepcion/commands/{id}", env.base);
    wait_until("the old command expires", || {
        get(&url(old_id)).1["data"]["status"] == "caducado"
    });
    let (_, old) = get(&url(old_id));
    assert_eq!(
        old["data"]["message"],
        "El terminal no recogió el comando en 7 días."
    );
    assert!(old["data"]["done_at"].is_string(), "{old}");
    assert!(old["data"].get("return").is_none(), "{old}");
    let (_, recent) = get(&url(recent_id));
    assert_eq!(recent["data"]["status"], "pendiente", "{recent}");
    // An expired command is never delivered.
    let next: Vec<i64> = terminal_takes(&journal, "recepcion", 10)
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(next, vec![recent_id]);
}

#[test]
fn queued_commands_survive_a_restart_of_the_binary() {
    let dir = Scratch::new("restart");
    let devices = dir.file("devices.json");
    std::fs::write(&devices, DEVICES).expect("devices file");
    let journal_file = dir.file("punches.db");
    let args = [
        "--config",
        devices.to_str().unwrap(),
        "--journal",
        journal_file.to_str().unwrap(),
        "--allow-open-writes",
    ];
    let (mut child, addr) = start_server(&args);
    let base = format!("http://{addr}");
    let users = format!("{base}/devices/recepcion/users");
    let ids = [
        queued(
            &users,
            "POST",
            json!({"user_id": "1", "name": "Ana"}),
            "recepcion",
        ),
        queued(
            &format!("{base}/devices/recepcion/sync-time"),
            "POST",
            Value::Null,
            "recepcion",
        ),
        queued(
            &users,
            "POST",
            json!({"user_id": "2", "name": "Luis"}),
            "recepcion",
        ),
    ];
    let (_, before) = get(&format!("{base}/devices/recepcion/commands"));
    assert_eq!(terminate(&mut child), 0, "clean stop");

    let (mut child, addr) = start_server(&args);
    let base = format!("http://{addr}");
    let (status, after) = get(&format!("{base}/devices/recepcion/commands"));
    assert_eq!(status, 200, "{after}");
    assert_eq!(after, before, "the queue is as it was");
    let listed: Vec<i64> = after["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, ids.iter().rev().copied().collect::<Vec<_>>());
    assert!(after["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["status"] == "pendiente"));
    // The terminal's next poll gets them in the order they were queued.
    let journal = Journal::open(&journal_file).expect("journal opens beside the server");
    let texts: Vec<String> = journal
        .next_commands("recepcion", 10)
        .expect("next")
        .into_iter()
        .map(|c| c.command)
        .collect();
    assert_eq!(
        texts,
        [
            "DATA UPDATE USERINFO PIN=1\tName=Ana\tPri=0\tPasswd=\tCard=",
            "CHECK",
            "DATA UPDATE USERINFO PIN=2\tName=Luis\tPri=0\tPasswd=\tCard=",
        ]
    );
    assert_eq!(terminate(&mut child), 0, "clean stop");
}

#[test]
fn reboot_queues_reboot_for_push_and_restarts_a_pull_terminal() {
    use zkserver::registry::DeviceConfig;
    use zkserver::sim::{SimConfig, Simulator};
    let dir = Scratch::new("reboot");
    let journal = Arc::new(Journal::open(dir.file("punches.db")).expect("journal opens"));
    let sim = Simulator::start(SimConfig::default()).expect("simulator");
    let mut devices = parse_devices(DEVICES).expect("devices");
    devices.retain(|(id, _)| id != "principal");
    let mut pull = DeviceConfig::new("Principal");
    pull.ip = "127.0.0.1".into();
    pull.port = sim.port();
    devices.push(("principal".to_string(), pull));
    let j = journal.clone();
    let env = serve(vec![sim], Registry::in_memory(devices), move |s| {
        s.journal = Some(j);
        s.security.api_key = Some("clave-de-prueba-123".into());
    });
    let key = |method: &str, path: &str, with_key: bool| {
        let mut req = minreq::Request::new(
            if method == "POST" {
                minreq::Method::Post
            } else {
                minreq::Method::Get
            },
            format!("{}{path}", env.base),
        )
        .with_timeout(60);
        if with_key {
            req = req.with_header("X-API-Key", "clave-de-prueba-123");
        }
        let resp = req.send().expect("HTTP request");
        let body: Value = serde_json::from_str(resp.as_str().expect("utf-8")).expect("JSON");
        (resp.status_code, body)
    };

    // A write: without the key nothing happens.
    for id in ["recepcion", "principal"] {
        let (status, body) = key("POST", &format!("/devices/{id}/reboot"), false);
        assert_eq!(status, 401, "{body}");
    }
    assert_eq!(env.sims[0].stats().restarts, 0);
    assert!(journal.list_commands("recepcion").expect("list").is_empty());

    // Push: a queued REBOOT, as other commands.
    let (status, body) = key("POST", "/devices/recepcion/reboot", true);
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["message"], "Comando encolado para 'recepcion'.");
    let id = body["command"]["id"].as_i64().expect("command id");
    assert_eq!(
        journal
            .get_command("recepcion", id)
            .expect("read")
            .expect("queued")
            .command,
        "REBOOT"
    );
    // Forwarded: the upstream sends its commands.
    let (status, body) = key("POST", "/devices/sucursal/reboot", true);
    assert_eq!(status, 409, "{body}");

    // Pull: CMD_RESTART; the terminal drops its connections and answers again.
    let (status, body) = key("POST", "/devices/principal/reboot", true);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true, "{body}");
    assert_eq!(env.sims[0].stats().restarts, 1);
    let (status, body) = key("GET", "/devices/principal/time", true);
    assert_eq!(status, 200, "it answers after its restart: {body}");
    // Firmware that restarts without acknowledging: still a success.
    env.sims[0].set_faults(zkserver::sim::Faults {
        no_reply_to: Some(1004),
        ..zkserver::sim::Faults::default()
    });
    let (status, body) = key("POST", "/devices/principal/reboot", true);
    assert_eq!(status, 200, "{body}");
}
