//! The sync planner: given the staff list, one terminal's profile (area,
//! algorithm versions, whether its users were imported), what it holds
//! (a fresh read, or only the hashes of what it was last given) and what
//! it was last given, computes what to write, remove and take into the
//! list. No I/O: the same plan serves a sync, a dry run and the
//! `pending` counts of `GET /people/sync`.
//!
//! Rules (API Part 7): only a tombstone removes anything from a terminal;
//! a template goes only to a terminal of its algorithm version (others
//! count as `incompatible`); a person outside the terminal's area is left
//! alone there. The reverse direction ("enrolled anywhere, works
//! everywhere") applies only to terminals whose users were imported: a
//! user or template the list has no row for joins it, and one changed at
//! the terminal since it was last given joins it when the list did not
//! change it meanwhile (when both changed, the list wins and the terminal
//! is rewritten: the list's change is the one an operator made on purpose).

use std::collections::{BTreeMap, BTreeSet};

use crate::journal::{Person, SyncState, Template, TemplateKind};

/// A template's key on every terminal: owner's PIN, kind and index.
pub type TemplateKey = (String, TemplateKind, u8);

/// The key of `t`.
pub fn key_of(t: &Template) -> TemplateKey {
    (t.user_id.clone(), t.kind, t.index)
}

/// One person of the list (a tombstone too) with their templates
/// (tombstones included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// The person.
    pub person: Person,
    /// Their templates, live and deleted.
    pub templates: Vec<Template>,
}

/// What the planner needs to know of a terminal.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TerminalProfile {
    /// The device's area (`"general"` when the device names none).
    pub area: String,
    /// Its fingerprint algorithm version (`"10"`); `None` = unknown (any fits).
    pub finger_version: Option<String>,
    /// Whether it takes face templates at all.
    pub takes_faces: bool,
    /// Its face algorithm version; `None` = unknown (any fits).
    pub face_version: Option<String>,
    /// Whether its users were imported into the list: only then does what
    /// appears or changes at the terminal join the list.
    pub imported: bool,
}

impl TerminalProfile {
    /// Whether `t` can be written to this terminal.
    pub fn fits(&self, t: &Template) -> bool {
        match t.kind {
            TemplateKind::Finger => same_version(self.finger_version.as_deref(), &t.version),
            TemplateKind::Face => {
                self.takes_faces && same_version(self.face_version.as_deref(), &t.version)
            }
        }
    }
}

/// Unknown on either side fits; otherwise the versions must be equal.
fn same_version(terminal: Option<&str>, template: &str) -> bool {
    match terminal {
        None | Some("") => true,
        Some(v) => template.is_empty() || v == template,
    }
}

/// A user the terminal holds: the content hash of what it holds
/// (`Person::content_hash` of it read as a person) and, from a fresh
/// read, the user itself (needed for it to join the list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldUser {
    /// The hash of what the terminal holds.
    pub hash: String,
    /// The user as a person (fields the terminal holds; areas default),
    /// `None` when only the hash is known.
    pub person: Option<Person>,
}

/// A template the terminal holds, like [`HeldUser`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldTemplate {
    /// `Template::content_hash` of what the terminal holds.
    pub hash: String,
    /// The template itself, `None` when only the hash is known.
    pub template: Option<Template>,
}

/// What a terminal holds, by PIN and by template key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Holdings {
    /// Users by PIN.
    pub users: BTreeMap<String, HeldUser>,
    /// Templates by key.
    pub templates: BTreeMap<TemplateKey, HeldTemplate>,
}

/// What a terminal was last given (people_sync): hashes by PIN and key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sent {
    /// Person hashes written, by PIN.
    pub users: BTreeMap<String, String>,
    /// Template hashes written, by key.
    pub templates: BTreeMap<TemplateKey, String>,
}

/// What to do for one terminal.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// People to create there, in the form the terminal can hold.
    pub users_add: Vec<Person>,
    /// People whose record there must be rewritten (same form).
    pub users_update: Vec<Person>,
    /// PINs to remove (tombstones the terminal still holds).
    pub users_remove: Vec<String>,
    /// Templates to write (new or changed).
    pub templates_add: Vec<Template>,
    /// The content hash of each template to write, computed once while
    /// planning (what the terminal is recorded as given once written).
    pub add_hashes: BTreeMap<TemplateKey, String>,
    /// Templates to remove (template tombstones, and those of users removed).
    pub templates_remove: Vec<TemplateKey>,
    /// Templates of the list not sent for their version or kind.
    pub incompatible: usize,
    /// Each live person's state once the plan is applied.
    pub states: BTreeMap<String, SyncState>,
    /// People changed or enrolled at the terminal, to join the list.
    pub join_people: Vec<Person>,
    /// Templates changed or enrolled at the terminal, to join the list.
    pub join_templates: Vec<Template>,
}

impl Plan {
    /// Whether applying the plan would write nothing to the terminal.
    pub fn terminal_untouched(&self) -> bool {
        self.users_add.is_empty()
            && self.users_update.is_empty()
            && self.users_remove.is_empty()
            && self.templates_add.is_empty()
            && self.templates_remove.is_empty()
    }

    /// Whether the plan changes nothing anywhere (terminal and list).
    pub fn is_empty(&self) -> bool {
        self.terminal_untouched() && self.join_people.is_empty() && self.join_templates.is_empty()
    }

    /// The PINs this plan writes or removes something of on the terminal.
    pub fn touched_people(&self) -> BTreeSet<String> {
        self.users_add
            .iter()
            .chain(&self.users_update)
            .map(|p| p.user_id.clone())
            .chain(self.users_remove.iter().cloned())
            .chain(self.templates_add.iter().map(|t| t.user_id.clone()))
            .chain(self.templates_remove.iter().map(|k| k.0.clone()))
            .collect()
    }
}

/// Computes the plan for one terminal. `fit` gives a person in the form
/// the terminal can hold (its record layout's widths): the hash compared
/// with what the terminal holds is that form's.
pub fn plan(
    list: &[ListEntry],
    profile: &TerminalProfile,
    held: &Holdings,
    sent: &Sent,
    fit: &dyn Fn(&Person) -> Person,
) -> Plan {
    let mut out = Plan::default();
    let mut known = BTreeSet::new();
    for entry in list {
        known.insert(entry.person.user_id.clone());
        plan_person(entry, profile, held, sent, fit, &mut out);
    }
    if profile.imported {
        join_strangers(&known, held, &mut out);
    }
    out
}

/// The plan's part for one person of the list.
fn plan_person(
    entry: &ListEntry,
    profile: &TerminalProfile,
    held: &Holdings,
    sent: &Sent,
    fit: &dyn Fn(&Person) -> Person,
    out: &mut Plan,
) {
    let person = &entry.person;
    let id = &person.user_id;
    if person.is_deleted() {
        if held.users.contains_key(id) {
            out.users_remove.push(id.clone());
            out.templates_remove
                .extend(held_keys_of(held, id).filter(|k| !is_listed(entry, k)));
        }
        out.templates_remove.extend(
            entry
                .templates
                .iter()
                .map(key_of)
                .filter(|k| held.templates.contains_key(k)),
        );
        return;
    }
    if !person.in_area(&profile.area) {
        out.states.insert(id.clone(), SyncState::OutOfArea);
        return;
    }
    plan_user(person, profile, held, sent, fit, out);
    let fitting = plan_templates(entry, profile, held, sent, out);
    let live = entry.templates.iter().filter(|t| !t.deleted).count();
    let state = if live > 0 && fitting == 0 {
        SyncState::Incompatible
    } else {
        SyncState::UpToDate
    };
    out.states.insert(id.clone(), state);
}

/// Keys of the templates the terminal holds of `user_id`.
fn held_keys_of<'a>(
    held: &'a Holdings,
    user_id: &'a str,
) -> impl Iterator<Item = TemplateKey> + 'a {
    held.templates
        .keys()
        .filter(move |k| k.0 == user_id)
        .cloned()
}

/// Whether the list has a row (live or tombstone) for `key`.
fn is_listed(entry: &ListEntry, key: &TemplateKey) -> bool {
    entry.templates.iter().any(|t| &key_of(t) == key)
}

/// The user record of a live person in the terminal's area.
fn plan_user(
    person: &Person,
    profile: &TerminalProfile,
    held: &Holdings,
    sent: &Sent,
    fit: &dyn Fn(&Person) -> Person,
    out: &mut Plan,
) {
    let form = fit(person);
    let wanted = form.content_hash();
    let Some(h) = held.users.get(&person.user_id) else {
        out.users_add.push(form);
        return;
    };
    if h.hash == wanted {
        return;
    }
    let list_unchanged = sent.users.get(&person.user_id) == Some(&wanted);
    match (&h.person, profile.imported && list_unchanged) {
        (Some(at_terminal), true) => out.join_people.push(Person {
            areas: person.areas.clone(),
            ..at_terminal.clone()
        }),
        _ => out.users_update.push(form),
    }
}

/// The templates of a live person in the terminal's area; answers how
/// many of their live templates fit the terminal.
fn plan_templates(
    entry: &ListEntry,
    profile: &TerminalProfile,
    held: &Holdings,
    sent: &Sent,
    out: &mut Plan,
) -> usize {
    let mut fitting = 0;
    for t in &entry.templates {
        let key = key_of(t);
        let h = held.templates.get(&key);
        if t.deleted {
            if h.is_some() {
                out.templates_remove.push(key);
            }
            continue;
        }
        if !profile.fits(t) {
            out.incompatible += 1;
            continue;
        }
        fitting += 1;
        let wanted = t.content_hash();
        let Some(h) = h else {
            out.templates_add.push(t.clone());
            out.add_hashes.insert(key, wanted);
            continue;
        };
        if h.hash == wanted {
            continue;
        }
        let list_unchanged = sent.templates.get(&key) == Some(&wanted);
        if let (Some(at_terminal), true) = (&h.template, profile.imported && list_unchanged) {
            out.join_templates.push(at_terminal.clone());
        } else {
            out.templates_add.push(t.clone());
            out.add_hashes.insert(key, wanted);
        }
    }
    if profile.imported {
        let unlisted = held
            .templates
            .iter()
            .filter(|(k, _)| k.0 == entry.person.user_id && !is_listed(entry, k));
        out.join_templates
            .extend(unlisted.filter_map(|(_, h)| h.template.clone()));
    }
    fitting
}

/// Users (and their templates) the terminal holds that the list has no
/// row for: they join it.
fn join_strangers(known: &BTreeSet<String>, held: &Holdings, out: &mut Plan) {
    for (id, h) in &held.users {
        if known.contains(id) {
            continue;
        }
        let Some(p) = &h.person else { continue };
        out.join_people.push(p.clone());
        out.join_templates.extend(
            held.templates
                .iter()
                .filter(|(k, _)| &k.0 == id)
                .filter_map(|(_, t)| t.template.clone()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::WallTime;

    fn at(s: &str) -> WallTime {
        WallTime::parse(&format!("2026-12-07 {s}")).expect("time")
    }

    fn person(id: &str, name: &str) -> Person {
        let mut p = Person::new(id, at("08:00:00"));
        p.name = name.to_string();
        p
    }

    fn finger(id: &str, index: u8, version: &str, byte: u8) -> Template {
        Template {
            user_id: id.to_string(),
            kind: TemplateKind::Finger,
            index,
            version: version.to_string(),
            flag: 1,
            data: vec![byte; 64],
            updated_at: at("08:00:00"),
            deleted: false,
        }
    }

    fn entry(p: Person, templates: Vec<Template>) -> ListEntry {
        ListEntry {
            person: p,
            templates,
        }
    }

    fn profile(area: &str, version: &str, imported: bool) -> TerminalProfile {
        TerminalProfile {
            area: area.to_string(),
            finger_version: Some(version.to_string()),
            takes_faces: false,
            face_version: None,
            imported,
        }
    }

    /// Names are cut to 8 characters, like a 28-byte layout.
    fn short(p: &Person) -> Person {
        let mut p = p.clone();
        p.name = p.name.chars().take(8).collect();
        p
    }

    fn held_user(p: &Person) -> HeldUser {
        HeldUser {
            hash: p.content_hash(),
            person: Some(p.clone()),
        }
    }

    fn held_template(t: &Template) -> HeldTemplate {
        HeldTemplate {
            hash: t.content_hash(),
            template: Some(t.clone()),
        }
    }

    /// A terminal holding `users` and `templates` as they are.
    fn holding(users: &[Person], templates: &[Template]) -> Holdings {
        Holdings {
            users: users
                .iter()
                .map(|p| (p.user_id.clone(), held_user(p)))
                .collect(),
            templates: templates
                .iter()
                .map(|t| (key_of(t), held_template(t)))
                .collect(),
        }
    }

    /// The plan for a terminal of area "general" and version 10 that was
    /// never given anything (`imported`: its enrolments join the list).
    fn plan_fresh(list: &[ListEntry], held: &Holdings, imported: bool) -> Plan {
        plan(
            list,
            &profile("general", "10", imported),
            held,
            &Sent::default(),
            &short,
        )
    }

    /// What a sync does with `plan`: the terminal and the list changed,
    /// and what the terminal was given recorded.
    fn apply(plan: &Plan, list: &mut Vec<ListEntry>, held: &mut Holdings, sent: &mut Sent) {
        for p in plan.users_add.iter().chain(&plan.users_update) {
            held.users.insert(p.user_id.clone(), held_user(p));
            sent.users.insert(p.user_id.clone(), p.content_hash());
        }
        for id in &plan.users_remove {
            held.users.remove(id);
            sent.users.remove(id);
        }
        for t in &plan.templates_add {
            held.templates.insert(key_of(t), held_template(t));
            sent.templates.insert(key_of(t), t.content_hash());
        }
        for k in &plan.templates_remove {
            held.templates.remove(k);
            sent.templates.remove(k);
        }
        for p in &plan.join_people {
            sent.users.insert(p.user_id.clone(), p.content_hash());
            match list.iter_mut().find(|e| e.person.user_id == p.user_id) {
                Some(e) => e.person = p.clone(),
                None => list.push(entry(p.clone(), Vec::new())),
            }
        }
        for t in &plan.join_templates {
            sent.templates.insert(key_of(t), t.content_hash());
            let Some(e) = list.iter_mut().find(|e| e.person.user_id == t.user_id) else {
                continue;
            };
            e.templates.retain(|x| key_of(x) != key_of(t));
            e.templates.push(t.clone());
        }
    }

    #[test]
    fn an_empty_terminal_gets_everyone_in_its_area_with_fitting_templates() {
        let mut away = person("3", "Lejos");
        away.areas = vec!["almacen".to_string()];
        let list = vec![
            entry(
                person("1", "Ana"),
                vec![finger("1", 0, "10", 1), finger("1", 6, "10", 2)],
            ),
            entry(person("2", "Luis"), vec![finger("2", 1, "9", 3)]),
            entry(away, vec![finger("3", 0, "10", 4)]),
        ];
        let p = plan_fresh(&list, &Holdings::default(), false);
        let added: Vec<_> = p.users_add.iter().map(|u| u.user_id.as_str()).collect();
        assert_eq!(added, ["1", "2"]);
        assert_eq!(p.templates_add.len(), 2);
        assert_eq!(p.incompatible, 1);
        assert_eq!(p.states["1"], SyncState::UpToDate);
        assert_eq!(p.states["2"], SyncState::Incompatible);
        assert_eq!(p.states["3"], SyncState::OutOfArea);
        assert!(p.users_remove.is_empty() && p.templates_remove.is_empty());
    }

    #[test]
    fn the_written_form_is_compared_so_a_cut_name_is_not_rewritten() {
        let long = person("1", "Sofía Moreno Gutiérrez");
        let list = vec![entry(long.clone(), vec![])];
        let held = holding(&[short(&long)], &[]);
        let p = plan_fresh(&list, &held, false);
        assert!(p.is_empty(), "{p:?}");
    }

    #[test]
    fn only_tombstones_remove_and_they_take_the_templates_along() {
        let mut gone = person("1", "Ana");
        gone.deleted_at = Some(at("09:00:00"));
        let mut dropped = finger("2", 3, "10", 9);
        dropped.deleted = true;
        let list = vec![
            entry(gone, vec![]),
            entry(person("2", "Luis"), vec![dropped]),
        ];
        let held = holding(
            &[
                person("1", "Ana"),
                person("2", "Luis"),
                person("7", "Ajeno"),
            ],
            &[
                finger("1", 0, "10", 1),
                finger("2", 3, "10", 9),
                finger("7", 0, "10", 5),
            ],
        );
        let p = plan_fresh(&list, &held, false);
        assert_eq!(p.users_remove, ["1"]);
        let removed: Vec<_> = p
            .templates_remove
            .iter()
            .map(|k| (k.0.as_str(), k.2))
            .collect();
        assert_eq!(removed, [("1", 0), ("2", 3)]);
        assert!(p.join_people.is_empty(), "not imported: nothing joins");
        assert!(p.users_update.is_empty() && p.templates_add.is_empty());
    }

    #[test]
    fn a_one_person_change_moves_only_that_person() {
        let ana = person("1", "Ana");
        let luis = person("2", "Luis");
        let t1 = finger("1", 0, "10", 1);
        let t2 = finger("2", 0, "10", 2);
        let held = holding(&[ana.clone(), luis.clone()], &[t1.clone(), t2.clone()]);
        let mut changed = finger("2", 0, "10", 7);
        changed.updated_at = at("10:00:00");
        let list = vec![
            entry(ana, vec![t1]),
            entry(person("2", "Luis Pérez"), vec![changed]),
        ];
        let p = plan_fresh(&list, &held, false);
        assert_eq!(p.touched_people().into_iter().collect::<Vec<_>>(), ["2"]);
        assert_eq!(p.users_update.len(), 1);
        assert_eq!(p.templates_add.len(), 1);
    }

    #[test]
    fn enrolled_at_an_imported_terminal_joins_the_list_but_not_at_first_contact() {
        let ana = person("1", "Ana");
        let t1 = finger("1", 0, "10", 1);
        let list = vec![entry(ana.clone(), vec![t1.clone()])];
        let new_finger = finger("1", 5, "10", 8);
        let stranger = person("9", "Nuevo");
        let his = finger("9", 2, "10", 6);
        let held = holding(&[ana, stranger], &[t1, new_finger.clone(), his.clone()]);
        let first = plan_fresh(&list, &held, false);
        assert!(first.is_empty(), "{first:?}");
        let p = plan_fresh(&list, &held, true);
        assert_eq!(p.join_people.len(), 1);
        assert_eq!(p.join_people[0].user_id, "9");
        assert_eq!(p.join_templates, [new_finger, his]);
        assert!(p.terminal_untouched());
    }

    #[test]
    fn a_change_at_the_terminal_wins_unless_the_list_changed_too() {
        let ana = person("1", "Ana");
        let t1 = finger("1", 0, "10", 1);
        let mut sent = Sent::default();
        sent.users.insert("1".into(), ana.content_hash());
        sent.templates.insert(key_of(&t1), t1.content_hash());
        let renamed = person("1", "Ana María");
        let reenrolled = finger("1", 0, "10", 4);
        let held = holding(
            std::slice::from_ref(&renamed),
            std::slice::from_ref(&reenrolled),
        );
        let list = vec![entry(ana.clone(), vec![t1.clone()])];
        let p = plan(&list, &profile("general", "10", true), &held, &sent, &short);
        assert_eq!(p.join_people[0].name, "Ana María");
        assert_eq!(p.join_templates, [reenrolled]);
        assert!(p.terminal_untouched());
        let list = vec![entry(
            person("1", "Ana Gómez"),
            vec![finger("1", 0, "10", 5)],
        )];
        let p = plan(&list, &profile("general", "10", true), &held, &sent, &short);
        assert!(p.join_people.is_empty() && p.join_templates.is_empty());
        assert_eq!(p.users_update.len(), 1);
        assert_eq!(p.templates_add.len(), 1);
    }

    #[test]
    fn a_template_deleted_at_the_keypad_comes_back() {
        let ana = person("1", "Ana");
        let t1 = finger("1", 0, "10", 1);
        let mut sent = Sent::default();
        sent.templates.insert(key_of(&t1), t1.content_hash());
        let held = holding(std::slice::from_ref(&ana), &[]);
        let list = vec![entry(ana, vec![t1.clone()])];
        let p = plan(&list, &profile("general", "10", true), &held, &sent, &short);
        assert_eq!(p.templates_add, [t1]);
    }

    #[test]
    fn applying_a_plan_leaves_nothing_to_do() {
        let mut gone = person("4", "Ido");
        gone.deleted_at = Some(at("09:00:00"));
        let mut dead = finger("1", 2, "10", 3);
        dead.deleted = true;
        let mut list = vec![
            entry(
                person("1", "Ana Beatriz Sánchez"),
                vec![finger("1", 0, "10", 1), dead, finger("1", 4, "9", 2)],
            ),
            entry(person("2", "Luis"), vec![finger("2", 1, "10", 5)]),
            entry(gone, vec![]),
        ];
        let mut held = holding(
            &[
                person("2", "Luis Viejo"),
                person("4", "Ido"),
                person("8", "Ocho"),
            ],
            &[
                finger("1", 2, "10", 3),
                finger("4", 0, "10", 7),
                finger("8", 1, "10", 9),
            ],
        );
        let mut sent = Sent::default();
        let prof = profile("general", "10", true);
        let first = plan(&list, &prof, &held, &sent, &short);
        assert!(!first.is_empty());
        apply(&first, &mut list, &mut held, &mut sent);
        let second = plan(&list, &prof, &held, &sent, &short);
        assert!(second.is_empty(), "{second:?}");
        assert_eq!(second.incompatible, 1);
        assert!(
            held.users.contains_key("8"),
            "nothing is removed for lack of a row"
        );
        assert!(list.iter().any(|e| e.person.user_id == "8"));
    }

    #[test]
    fn unknown_versions_fit_and_faces_need_a_terminal_that_takes_them() {
        let mut face = finger("1", 0, "7", 1);
        face.kind = TemplateKind::Face;
        let mut prof = profile("general", "10", false);
        prof.finger_version = None;
        assert!(prof.fits(&finger("1", 0, "9", 1)));
        assert!(!prof.fits(&face));
        prof.takes_faces = true;
        assert!(prof.fits(&face));
        prof.face_version = Some("8".into());
        assert!(!prof.fits(&face));
    }
}
