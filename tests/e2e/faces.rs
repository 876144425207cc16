//! NIR faces on pull terminals over the ZK binary protocol
//! (templates-protocol.md §2.8), against the simulator over 127.0.0.1:
//! reading a user's faces (CMD 150, TCP and UDP), importing a face unit
//! into the staff list (kind face, byte for byte), a tombstone deleting
//! the person's faces (CMD 152, which the simulator does not do on user
//! delete), faces counted `incompatible` on pull terminals (no write: CMD
//! 151 is unverified, and the simulator answers it ACK_UNKNOWN).

use std::time::Duration;

use zkserver::journal::TemplateKind;
use zkserver::ops::{Budget, Terminals};
use zkserver::people::sync::{sync_pull, Depth};
use zkserver::registry::{Device, DeviceConfig};
use zkserver::services::people_import::{from_device, Imported};
use zkserver::sim::faces::SIM_FACE_VERSION;
use zkserver::sim::{SimConfig, Simulator};
use zkserver::time::WallTime;
use zkserver::zk::faces::Face;
use zkserver::zk::wire::cmd;
use zkserver::zk::{ConnectOptions, Error, Session, DEFAULT_OPERATION_LIMIT};

use crate::common::store::Store;

fn face_unit() -> Simulator {
    Simulator::start(SimConfig {
        face_capacity: 3000,
        ..SimConfig::default()
    })
    .unwrap()
}

fn device(id: &str, sim: &Simulator, udp: bool) -> Device {
    let mut config = DeviceConfig::new(id);
    config.ip = "127.0.0.1".into();
    config.port = sim.port();
    config.timeout = 5.0;
    config.force_udp = udp;
    Device {
        id: id.into(),
        config,
    }
}

fn faces_of(sim: &Simulator, uid: u16) -> Vec<Face> {
    sim.with_state(|st| st.faces.iter().filter(|f| f.uid == uid).cloned().collect())
}

/// (uid, PIN) of the users holding faces on `sim`.
fn face_owners(sim: &Simulator) -> Vec<(u16, String)> {
    sim.with_state(|st| {
        st.users
            .iter()
            .filter(|u| st.faces.iter().any(|f| f.uid == u.uid))
            .map(|u| (u.uid, u.user_id.clone()))
            .collect()
    })
}

#[test]
fn faces_read_over_tcp_and_udp_and_the_write_stays_unknown() {
    let sim = face_unit();
    let t = Terminals::new(Budget::default());
    let (uid, _) = face_owners(&sim)[0].clone();
    let held = faces_of(&sim, uid);
    assert_eq!(held.len(), 15);
    for udp in [false, true] {
        let read = t.read_faces(&device("f", &sim, udp), uid).unwrap();
        assert_eq!(read, held, "udp {udp}");
    }
    let none = sim.with_state(|st| {
        st.users
            .iter()
            .find(|u| !st.faces.iter().any(|f| f.uid == u.uid))
            .map(|u| u.uid)
    });
    assert_eq!(
        t.read_faces(&device("f", &sim, false), none.unwrap())
            .unwrap(),
        []
    );
    let mut s = Session::connect(&ConnectOptions {
        host: "127.0.0.1".into(),
        port: sim.port(),
        password: 0,
        timeout: Duration::from_secs(5),
        udp: false,
        operation_limit: DEFAULT_OPERATION_LIMIT,
    })
    .unwrap();
    let mut write = vec![0u8; 24];
    write.extend(held[0].encode());
    assert_eq!(
        s.command(cmd::USERFACE_WRQ, &write),
        Err(Error::Device {
            command: cmd::USERFACE_WRQ,
            code: cmd::ACK_UNKNOWN
        })
    );
    assert!(!sim.is_disabled());
}

#[test]
fn faces_join_the_list_on_import_and_a_tombstone_deletes_them() {
    let store = Store::new("faces");
    let t = Terminals::new(Budget::default());
    let sim = face_unit();
    let d = device("caras", &sim, false);
    let owners = face_owners(&sim);
    assert!(owners.len() >= 2, "{owners:?}");
    let Imported::Pull { templates_read, .. } = from_device(&store.journal, &t, &d).unwrap() else {
        panic!("a pull terminal")
    };
    let (fingers, faces) = sim.with_state(|st| (st.templates.len(), st.faces.len()));
    assert_eq!(templates_read, fingers + faces);
    for (uid, pin) in &owners {
        let listed: Vec<_> = store
            .journal
            .person_templates(pin)
            .unwrap()
            .into_iter()
            .filter(|t| t.kind == TemplateKind::Face)
            .collect();
        let held = faces_of(&sim, *uid);
        assert_eq!(listed.len(), held.len(), "{pin}");
        for f in &held {
            let l = listed.iter().find(|l| l.index == f.face_id).unwrap();
            assert_eq!(l.data, f.header_and_data(), "{pin} face {}", f.face_id);
            assert_eq!(
                &l.data[16..],
                f.data.as_slice(),
                "the face bytes themselves"
            );
            assert_eq!(l.version, SIM_FACE_VERSION.to_string());
            assert_eq!(l.flag, f.valid);
        }
    }
    // Faces are never written to a pull terminal: they count incompatible.
    let report = sync_pull(&store.journal, &t, &d, Depth::Quick, false).unwrap();
    assert_eq!(report.incompatible, faces, "{report:?}");
    assert_eq!(report.pending.templates_add, 0, "{report:?}");
    // A tombstone: the person's faces go (CMD 152), the others' stay.
    let (gone_uid, gone) = owners[0].clone();
    let (kept_uid, _) = owners[1].clone();
    let writes_before = sim.stats().writes;
    let at = WallTime::new(zkserver::time::now());
    assert!(store.journal.delete_person(&gone, at).unwrap());
    let report = sync_pull(&store.journal, &t, &d, Depth::Quick, false).unwrap();
    assert!(report.error.is_none(), "{report:?}");
    assert!(
        !sim.with_state(|st| st.users.iter().any(|u| u.user_id == gone)),
        "user removed"
    );
    assert_eq!(faces_of(&sim, gone_uid), [], "faces deleted with the user");
    assert_eq!(faces_of(&sim, kept_uid).len(), 15, "other faces kept");
    assert!(sim.stats().writes > writes_before);
    assert!(!sim.is_disabled());
}
