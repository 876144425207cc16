//! The simulated terminal's NIR faces (templates-protocol.md §2.8): 15
//! `TFaceTmp` records per enrolled user, read with CMD 150 (one face id,
//! or all with an id of 15 or more; as large data like a terminal) and
//! deleted by PIN with CMD 152. The write (151) is documented by firmware
//! source only and unverified: the simulator answers it ACK_UNKNOWN like
//! any command it does not know, so nothing can come to rely on a form
//! no real terminal confirmed. Deleting a user (18) keeps their faces,
//! the case the document cannot rule out (§8 Q10): a client must delete
//! faces explicitly.

use super::answer::Answer;
use super::data::Rng;
use super::State;
use crate::zk::codec::{u16_at, until_nul};
use crate::zk::faces::{Face, FACE_NUM, PIN_BYTES};

/// The face algorithm version the simulator stores in the reserve word.
pub const SIM_FACE_VERSION: u16 = 7;

/// One enrolment of `uid`: 15 faces of 1 800…2 400 used bytes (a NIR
/// face template is a few KB; the record holds 2 560), deterministic for
/// a seed. Synthetic bytes, never a real person's.
pub fn face_set(uid: u16, seed: u64) -> Vec<Face> {
    let mut rng = Rng::new(seed ^ 0xFACE ^ u64::from(uid));
    (0..FACE_NUM)
        .map(|face_id| {
            let len = 1800 + rng.below(601) as usize;
            Face {
                uid,
                face_id,
                valid: 1,
                reserve: SIM_FACE_VERSION,
                active_time: 0,
                vf_count: 0,
                data: (0..len).map(|_| rng.below(256) as u8).collect(),
            }
        })
        .collect()
}

/// CMD 150: u16 uid, u8 face id (≥ 15 = all); the records as large data,
/// ACK_ERROR when the user has none.
pub fn read(st: &State, data: &[u8]) -> Answer {
    let (Some(uid), Some(&wanted)) = (u16_at(data, 0), data.get(2)) else {
        return Answer::Error(0);
    };
    let records: Vec<u8> = st
        .faces
        .iter()
        .filter(|f| f.uid == uid && (wanted >= FACE_NUM || f.face_id == wanted))
        .flat_map(Face::encode)
        .collect();
    if records.is_empty() {
        Answer::Error(0)
    } else {
        Answer::Large(records)
    }
}

/// CMD 152: 24-byte PIN; every face of that user goes. ACK_OK even when
/// there were none; ACK_ERROR for a short request or an unknown PIN.
pub fn delete(st: &mut State, data: &[u8]) -> Answer {
    let Some(pin) = data.get(..PIN_BYTES) else {
        return Answer::Error(0);
    };
    let pin = String::from_utf8_lossy(until_nul(pin)).into_owned();
    let Some(uid) = st.users.iter().find(|u| u.user_id == pin).map(|u| u.uid) else {
        return Answer::Error(0);
    };
    st.faces.retain(|f| f.uid != uid);
    Answer::Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zk::faces::{parse_faces, pin_field, read_faces_request, FACE_AREA};

    fn state() -> State {
        State {
            users: super::super::data::users(6),
            punches: Vec::new(),
            templates: Vec::new(),
            faces: [1, 4].iter().flat_map(|uid| face_set(*uid, 5)).collect(),
            enrolling: None,
            disabled: false,
            clock_offset: 0,
            faults: super::super::Faults::default(),
            stats: super::super::Stats::default(),
            link_generation: 0,
            offline: false,
            encoded_punches: None,
        }
    }

    #[test]
    fn faces_are_realistic_and_read_whole_or_one() {
        let st = state();
        let set = face_set(1, 5);
        assert_eq!(set, face_set(1, 5), "deterministic");
        assert_eq!(set.len(), 15);
        assert!(set
            .iter()
            .all(|f| (1800..=2400).contains(&f.data.len()) && f.data.len() <= FACE_AREA));
        let Answer::Large(all) = read(&st, &read_faces_request(1, 15)) else {
            panic!("all faces")
        };
        assert_eq!(parse_faces(&all).unwrap(), set);
        let Answer::Large(one) = read(&st, &read_faces_request(4, 3)) else {
            panic!("one face")
        };
        assert_eq!(parse_faces(&one).unwrap(), [face_set(4, 5)[3].clone()]);
        assert_eq!(read(&st, &read_faces_request(2, 15)), Answer::Error(0));
        assert_eq!(read(&st, &[1]), Answer::Error(0));
    }

    #[test]
    fn delete_by_pin_drops_every_face_of_that_user_only() {
        let mut st = state();
        let pin = st.users[0].user_id.clone();
        assert_eq!(st.users[0].uid, 1);
        assert_eq!(
            delete(&mut st, &pin_field(&pin).unwrap()),
            Answer::Ok(Vec::new())
        );
        assert!(st.faces.iter().all(|f| f.uid == 4));
        assert_eq!(st.faces.len(), 15);
        assert_eq!(
            delete(&mut st, &pin_field("no-such").unwrap()),
            Answer::Error(0)
        );
        assert_eq!(delete(&mut st, &[1, 2]), Answer::Error(0));
    }
}
