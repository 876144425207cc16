//! Fingerprint templates at the protocol layer: the library's `Session`
//! against simulated terminals over 127.0.0.1 (no HTTP yet): read all and
//! one, copy to a second terminal byte for byte, write one, delete one, a
//! full terminal refusing, and the terminal re-enabled after a link dropped
//! in the middle of a write.

use std::time::Duration;

use zkserver::sim::{Faults, SimConfig, Simulator};
use zkserver::zk::records::{Template, User};
use zkserver::zk::templates::template_family;
use zkserver::zk::wire::cmd;
use zkserver::zk::{
    ConnectOptions, Error, Session, TemplateCapacity, TemplateError, DEFAULT_OPERATION_LIMIT,
};

fn connect(sim: &Simulator, udp: bool) -> Session {
    connect_waiting(sim, udp, Duration::from_secs(5))
}

fn connect_waiting(sim: &Simulator, udp: bool, timeout: Duration) -> Session {
    Session::connect(&ConnectOptions {
        host: "127.0.0.1".into(),
        port: sim.port(),
        password: 0,
        timeout,
        udp,
        operation_limit: DEFAULT_OPERATION_LIMIT,
    })
    .unwrap()
}

fn sim(config: SimConfig) -> Simulator {
    Simulator::start(config).unwrap()
}

fn stored(sim: &Simulator) -> Vec<Template> {
    sim.with_state(|st| st.templates.clone())
}

/// A terminal with users but no templates yet.
fn empty_target(seed: u64, capacity: u32) -> Simulator {
    let target = sim(SimConfig {
        seed,
        finger_capacity: capacity,
        ..SimConfig::default()
    });
    target.with_state(|st| st.templates.clear());
    target
}

fn assert_enabled(sim: &Simulator) {
    let stats = sim.stats();
    assert!(!sim.is_disabled(), "terminal left disabled");
    assert!(stats.disables >= 1, "never disabled");
    assert_eq!(stats.disables, stats.enables, "every disable re-enabled");
}

/// The owners of `templates` among `users`.
fn owners(users: &[User], templates: &[Template]) -> Vec<User> {
    users
        .iter()
        .filter(|u| templates.iter().any(|t| t.uid == u.uid))
        .cloned()
        .collect()
}

#[test]
fn templates_read_all_and_one_with_version_and_capacity() {
    let source = sim(SimConfig::default());
    let expected = stored(&source);
    assert!(expected.len() >= 10);
    let mut s = connect(&source, false);
    assert_eq!(s.fp_version().unwrap(), Some(10));
    let count = u32::try_from(expected.len()).unwrap();
    assert_eq!(
        s.template_capacity().unwrap(),
        TemplateCapacity {
            stored: count,
            capacity: 3000,
            free: 3000 - count
        }
    );
    let mut d = s.disable().unwrap();
    let all = d.templates().unwrap();
    assert_eq!(all, expected, "bulk read, byte for byte");
    assert!(all
        .iter()
        .all(|t| template_family(&t.data) == Some(10) && (800..=1500).contains(&t.data.len())));
    let one = &expected[3];
    assert_eq!(
        d.read_template(one.uid, one.finger).unwrap().as_ref(),
        Some(one)
    );
    assert_eq!(d.read_template(4, 1).unwrap(), None, "uid 4 has no finger");
    d.finish().unwrap();
    drop(s);
    assert_enabled(&source);

    // Over UDP (1024-byte frames) and from a v9 terminal (inline replies).
    let mut udp = connect(&source, true);
    assert_eq!(
        udp.read_template(one.uid, one.finger).unwrap().as_ref(),
        Some(one)
    );
    let old = sim(SimConfig {
        fp_version: 9,
        ..SimConfig::default()
    });
    let v9 = stored(&old);
    let mut s = connect(&old, false);
    assert_eq!(s.fp_version().unwrap(), Some(9));
    assert!(v9
        .iter()
        .all(|t| template_family(&t.data) == Some(9) && t.data.len() <= 602));
    assert_eq!(
        s.read_template(v9[0].uid, v9[0].finger).unwrap().as_ref(),
        Some(&v9[0])
    );
    assert_eq!(s.templates().unwrap(), v9);
}

#[test]
fn templates_copied_to_a_second_terminal_read_back_byte_for_byte() {
    let source = sim(SimConfig::default());
    let mut s = connect(&source, false);
    let (users, format) = s.users().unwrap();
    let templates = s.templates().unwrap();
    drop(s);
    let target = empty_target(2, 3000);
    let mut t = connect(&target, false);
    let mut d = t.disable().unwrap();
    d.write_templates(&owners(&users, &templates), format.unwrap(), &templates)
        .unwrap();
    assert_eq!(d.templates().unwrap(), templates, "read back byte for byte");
    d.finish().unwrap();
    assert_eq!(stored(&target), templates);
    // The batch carried the owners' full records (it replaces them by uid).
    let (copied, _) = t.users().unwrap();
    for u in owners(&users, &templates) {
        assert!(copied.contains(&u), "owner {} copied", u.uid);
    }

    // One more, duress finger, through the single write (87).
    let duress = Template {
        uid: 4,
        finger: 3,
        valid: 3,
        data: templates[0].data.clone(),
    };
    let mut d = t.disable().unwrap();
    d.write_template(&duress).unwrap();
    assert_eq!(d.read_template(4, 3).unwrap(), Some(duress.clone()));
    let nobody = Template {
        uid: 999,
        ..duress.clone()
    };
    assert_eq!(
        d.write_template(&nobody),
        Err(Error::Template(TemplateError::NoUser { uid: 999 }))
    );
    d.finish().unwrap();
    drop(t);
    assert_enabled(&target);
}

#[test]
fn template_delete_removes_one_finger() {
    let terminal = sim(SimConfig::default());
    let victim = stored(&terminal)[1].clone();
    let mut s = connect(&terminal, false);
    let mut d = s.disable().unwrap();
    assert!(d.delete_template(victim.uid, victim.finger).unwrap());
    assert_eq!(d.read_template(victim.uid, victim.finger).unwrap(), None);
    assert!(
        !d.delete_template(victim.uid, victim.finger).unwrap(),
        "already gone"
    );
    d.finish().unwrap();
    drop(s);
    assert!(!stored(&terminal)
        .iter()
        .any(|t| (t.uid, t.finger) == (victim.uid, victim.finger)));
    assert_enabled(&terminal);
}

#[test]
fn template_capacity_full_is_a_typed_error_and_nothing_is_sent() {
    let source = sim(SimConfig::default());
    let mut s = connect(&source, false);
    let (users, format) = s.users().unwrap();
    let templates = s.templates().unwrap();
    drop(s);
    let target = empty_target(3, 5);
    let mut t = connect(&target, false);
    let mut d = t.disable().unwrap();
    let too_many = &templates[..6];
    assert_eq!(
        d.write_templates(&owners(&users, too_many), format.unwrap(), too_many),
        Err(Error::Template(TemplateError::CapacityFull {
            stored: 0,
            capacity: 5,
            adding: 6
        }))
    );
    assert!(stored(&target).is_empty(), "nothing written");
    // Five fit; then overwriting one still fits, a sixth finger does not.
    let five = &templates[..5];
    d.write_templates(&owners(&users, five), format.unwrap(), five)
        .unwrap();
    d.write_templates(&owners(&users, &five[..1]), format.unwrap(), &five[..1])
        .unwrap();
    assert_eq!(
        d.write_template(&templates[5]),
        Err(Error::Template(TemplateError::CapacityFull {
            stored: 5,
            capacity: 5,
            adding: 1
        }))
    );
    d.finish().unwrap();
    drop(t);
    assert_eq!(stored(&target), five);
    assert_enabled(&target);
}

#[test]
fn template_write_cut_mid_transfer_leaves_the_terminal_enabled() {
    let source = sim(SimConfig::default());
    let mut s = connect(&source, false);
    let (users, format) = s.users().unwrap();
    let templates = s.templates().unwrap();
    drop(s);
    let owners = owners(&users, &templates);
    for cut_at in [cmd::DATA, cmd::UPDATE_FIRMWARE] {
        let target = empty_target(4, 3000);
        target.set_faults(Faults {
            close_on: Some(cut_at),
            ..Faults::default()
        });
        let mut t = connect(&target, false);
        let mut d = t.disable().unwrap();
        assert!(target.is_disabled());
        let cut = d.write_templates(&owners, format.unwrap(), &templates);
        assert!(
            matches!(cut, Err(Error::Closed(_))),
            "{} cut: {cut:?}",
            cmd::name(cut_at)
        );
        drop(d);
        drop(t);
        assert_enabled(&target);
        assert!(stored(&target).is_empty(), "a cut batch stores nothing");
        // The link back, the same write goes through.
        target.set_faults(Faults::default());
        let mut t = connect(&target, false);
        let mut d = t.disable().unwrap();
        d.write_templates(&owners, format.unwrap(), &templates)
            .unwrap();
        d.finish().unwrap();
        assert_eq!(stored(&target), templates);
    }
}

#[test]
fn template_of_another_algorithm_version_is_refused_before_sending() {
    let old = sim(SimConfig {
        fp_version: 9,
        ..SimConfig::default()
    });
    let mut s = connect(&old, false);
    let (users, format) = s.users().unwrap();
    let v9 = s.templates().unwrap();
    drop(s);
    let target = empty_target(5, 3000);
    let mut t = connect(&target, false);
    let mut d = t.disable().unwrap();
    let refused = Err(Error::Template(TemplateError::Version {
        terminal: 10,
        template: 9,
    }));
    assert_eq!(
        d.write_templates(&owners(&users, &v9), format.unwrap(), &v9),
        refused
    );
    assert_eq!(d.write_template(&v9[0]), refused);
    d.finish().unwrap();
    drop(t);
    assert!(stored(&target).is_empty());
    assert_enabled(&target);
}

#[test]
fn template_upload_over_udp_survives_lost_answers() {
    let source = sim(SimConfig::default());
    let mut s = connect(&source, false);
    let (users, format) = s.users().unwrap();
    let templates = s.templates().unwrap();
    drop(s);
    let target = empty_target(6, 3000);
    // Every 5th datagram the terminal sends is lost: upload pieces whose
    // answer is lost are resent with the same reply id, appended once.
    target.set_faults(Faults {
        udp_drop_every: 5,
        ..Faults::default()
    });
    // A short wait per attempt: each lost answer costs one.
    let mut t = connect_waiting(&target, true, Duration::from_millis(1500));
    let mut d = t.disable().unwrap();
    d.write_templates(&owners(&users, &templates), format.unwrap(), &templates)
        .unwrap();
    d.finish().unwrap();
    drop(t);
    assert_eq!(stored(&target), templates, "byte for byte, nothing doubled");
    assert!(!target.is_disabled());
}
