"""Browser checks of the panel's "Hoy" (issue #24) and "Personal" (issue #23)
views, run by panel-test.py with its helpers (`h`: check, wait, until, api,
iclock, text_of, KEY, BASE) and its browser.

Known data: four people in the staff list, a schedule 08:00-17:00 with 10
minutes of tolerance on weekdays, and punches sent by the push terminal
'caja' (on UTC, like the server and the browser) for a past Monday no
simulator has punches on, and for today.
"""
import datetime
import json
import urllib.request

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

PAST = "2024-03-04"  # a Monday; the simulators' punches start in 2025
PAST_WORDS = "lunes, 4 de marzo de 2024"
PEOPLE = {"7001": "Sofía Moreno", "7002": "Íñigo Peña", "7003": "Ana Belén Ruiz", "7004": "Tomás Ibáñez"}
# On PAST: 7001 on time, 7002 25 minutes late, 7003 forgot to punch out, 7004 absent.
PAST_PUNCHES = [("7001", "08:05:00"), ("7001", "17:02:00"), ("7002", "08:25:00"), ("7002", "17:00:00"),
                ("7003", "08:00:00")]
SCHEDULE = {"start": "08:00", "end": "17:00", "tolerance": 10, "days": [1, 2, 3, 4, 5]}
STATE_WORDS = {"al_dia": "Al día", "pendiente": "Pendiente", "incompatible": "Incompatible", "error": "Error"}


def _json(h, path):
    status, _, body = h.api(path)
    try:
        return status, json.loads(body)
    except ValueError:
        return status, None


def _download(h, href):
    """Status and first bytes of a link of the page (it is same-origin)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(href), timeout=60) as r:
            return r.status, r.read(4)
    except urllib.error.HTTPError as e:
        return e.code, e.read(200)


def _counts(rows):
    """(present, absent, late) of day rows, as the panel counts them."""
    return (sum(1 for r in rows if r.get("punches")), sum(1 for r in rows if r.get("state") == "ausente"),
            sum(1 for r in rows if (r.get("late_minutes") or 0) > 0))


def _panel_counts(driver):
    return driver.execute_script(
        "return ['cifra-presentes', 'cifra-ausentes', 'cifra-tarde'].map(i => document.getElementById(i).textContent)")


def _row_cells(driver, table, user_id):
    """The cells' text of a table's row for a person, or None."""
    return driver.execute_script(
        "const r = document.querySelector('#' + arguments[0] + ' tbody tr[data-usuario=\"' + arguments[1] + '\"]');"
        " return r && !r.closest('[hidden]') ? [...r.cells].map(c => c.innerText.trim()) : null", table, user_id)


def _go(h, driver, view):
    tabs = driver.find_elements(By.CSS_SELECTOR, f".vistas a[data-vista={view}]")
    if not tabs:
        return False
    tabs[0].click()
    return h.wait(driver, lambda d: d.execute_script(
        "return !document.getElementById('vista-' + arguments[0]).hidden", view))


def _narrow(h, driver, tables, name):
    """At 360 px: no sideways scrolling, and every cell of these tables shown and named."""
    driver.set_window_size(360, 800)
    narrow = h.wait(driver, lambda d: d.execute_script("return document.documentElement.clientWidth <= 360"))
    overflow = driver.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    bad = driver.execute_script("""
        const width = document.documentElement.clientWidth, bad = [];
        for (const id of arguments[0]) {
          const names = [...document.querySelectorAll('#' + id + ' thead th')].map(th => th.textContent);
          const rows = document.querySelectorAll('#' + id + ' tbody tr');
          if (!rows.length) bad.push(id + ': no rows');
          for (const r of rows) [...r.cells].forEach((td, i) => {
            const box = td.getBoundingClientRect();
            const label = getComputedStyle(td, '::before').content;
            if (box.width <= 0 || box.left < 0 || box.right > width + 0.5)
              bad.push(id + ' ' + names[i] + ' outside: ' + box.left + '..' + box.right);
            else if (!label.includes(names[i])) bad.push(id + ' ' + names[i] + ' unlabeled: ' + label);
            for (const c of td.querySelectorAll('*')) {
              const b = c.getBoundingClientRect();
              if (b.width > 0 && (b.left < box.left - 0.5 || b.right > box.right + 0.5))
                bad.push(id + ' ' + names[i] + ' content sticks out');
            }
          });
        }
        return bad.slice(0, 5);""", tables)
    h.check(f"{name} at 360 px: no sideways scrolling, every column shown and named as cards",
            narrow and overflow <= 0 and not bad, (overflow, bad))
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(360, min(height + 100, 8000))
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(f"target/screenshots/panel-360-{name.lower()}.png")
    driver.set_window_size(1280, 1000)


def _full_screenshot(driver, path):
    driver.execute_script("window.scrollTo(0, 0)")
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1280, min(height + 150, 8000))
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(path)
    driver.set_window_size(1280, 1000)


def seed(h):
    """The known data: people, a schedule, punches at 'caja'. Returns today's punch times."""
    made = [h.api("/people", "POST", {"user_id": uid, "name": name}, key=h.KEY)[0] for uid, name in PEOPLE.items()]
    h.check("the four known people are added through the API (POST /people)",
            all(s in (200, 201) for s in made), made)
    status, _, body = h.api("/reports/schedule", "PUT", SCHEDULE, key=h.KEY)
    h.check("the schedule is set through the API (PUT /reports/schedule)", status == 200, body[:200])
    # Today's punches a few minutes ago (after 00:10, so all in today's workday).
    h.until(lambda: datetime.datetime.now(datetime.timezone.utc).time() >= datetime.time(0, 10), seconds=700)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0, tzinfo=None)
    ago = lambda minutes: (now - datetime.timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M:%S")
    today = [("7002", ago(8)), ("7002", ago(6)), ("7001", ago(5)), ("7003", ago(3))]
    lines = [(uid, f"{PAST} {t}") for uid, t in PAST_PUNCHES] + today
    h.iclock("/iclock/cdata?SN=CAJA0001&options=all&pushver=2.4.1")
    status, _ = h.iclock("/iclock/cdata?SN=CAJA0001&table=ATTLOG&Stamp=9999",
                         "".join(f"{uid}\t{t}\t0\t1\t\t0\t0\n" for uid, t in lines).encode())
    h.check("the known punches reach the journal through the push terminal", status == 200, status)
    return dict((uid, t) for uid, t in today)


def check_today(h, driver, today_punches):
    """ "Hoy": who is inside, counts, a past day's sheet, exports, the print view, 360 px."""
    shown = _go(h, driver, "hoy")
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")

    # Who is inside now: 7001 and 7003 (one entry each), not 7002 (in and out).
    inside = h.wait(driver, lambda d: (lambda a, c: (a, c) if a and c else None)(
        _row_cells(d, "dentro", "7001"), _row_cells(d, "dentro", "7003")))
    left = _row_cells(driver, "dentro", "7002")
    sofia, ana = inside or (None, None)
    h.check("Hoy lists who is inside now by name, since when and where (and not who left)",
            shown and sofia == ["Sofía Moreno (7001)", today_punches["7001"][11:16], "Caja Push"]
            and ana == ["Ana Belén Ruiz (7003)", today_punches["7003"][11:16], "Caja Push"] and left is None,
            (sofia, ana, left))
    if hasattr(h, "ANA"):  # 4242 punched once at 'principal' and is not on the staff list
        named = h.wait(driver, lambda d: (lambda r: r if r and r[0] == f"{h.ANA} (4242)" else None)(
            _row_cells(d, "dentro", "4242")))
        h.check("someone off the staff list is named from the terminal's users, as text",
                named and driver.execute_script("return document.querySelector('#dentro i, #hoja i') === null"),
                _row_cells(driver, "dentro", "4242"))
    # Punches keep arriving from the demo terminals and the list refreshes itself: compare the
    # panel with the API at the same moment, until one refresh and one answer agree.
    def same_inside(d):
        status, presence = _json(h, "/reports/presence")
        listed = d.execute_script("return document.querySelectorAll('#dentro tbody tr').length")
        said = h.text_of(d, "dentro-resumen")
        tries.append((listed, presence and presence.get("total"), said))
        return (status == 200 and presence and listed == presence["total"] == len(presence["data"])
                and f"{presence['total']} personas dentro" in said)
    tries = []
    h.check("the inside list has everyone the API lists, and says how many",
            h.wait(driver, same_inside, seconds=60), tries[-3:])

    # Today's counts are the day sheet's (punches keep arriving: compare at the same moment).
    def same_counts(d):
        d.find_element(By.CSS_SELECTOR, "#dia-form button[type=submit]").click()
        h.wait(d, lambda dd: dd.execute_script("return document.getElementById('dia-estado').textContent !== 'Cargando…'"))
        status, sheet = _json(h, f"/reports/day?date={today}")
        want = [str(n) for n in _counts(sheet["data"])] if status == 200 and sheet else None
        return want if want and _panel_counts(d) == want else None
    counts = h.wait(driver, same_counts, seconds=60)
    h.check("today's counts (present, absent, late) match the day sheet",
            counts and int(counts[0]) >= 3, (counts, _panel_counts(driver)))

    # A past date: the hand-computed day.
    driver.execute_script("document.getElementById('dia-fecha').value = arguments[0]", PAST)
    driver.find_element(By.CSS_SELECTOR, "#dia-form button[type=submit]").click()
    heading = h.wait(driver, lambda d: PAST_WORDS in h.text_of(d, "t-hoja") and _row_cells(d, "hoja", "7004")
                     and h.text_of(d, "t-hoja"))
    rows = {uid: _row_cells(driver, "hoja", uid) for uid in PEOPLE}
    status, sheet = _json(h, f"/reports/day?date={PAST}")
    absent = _counts(sheet["data"])[1] if status == 200 and sheet else None
    h.check("a past date's counts: 3 present, 1 late, the absent as the list says",
            heading and _panel_counts(driver) == ["3", str(absent), "1"] and absent and absent >= 1,
            (_panel_counts(driver), absent))
    h.check("a past date's sheet has each person's day, by name",
            rows["7001"] == ["Sofía Moreno (7001)", "08:05", "17:02", "08:05, 17:02", "8 h 57 min", "Completo", "—"]
            and rows["7002"] == ["Íñigo Peña (7002)", "08:25", "17:00", "08:25, 17:00", "8 h 35 min", "Completo",
                                 "25 min"]
            and rows["7003"] == ["Ana Belén Ruiz (7003)", "08:00", "Sin salida", "08:00", "0 h 00 min",
                                 "Incompleto", "—"]
            and rows["7004"] == ["Tomás Ibáñez (7004)", "—", "—", "—", "—", "Ausente", "—"], rows)

    # The day's and a month's exports.
    links = driver.execute_script(
        "return ['hoja-csv', 'hoja-xlsx'].map(i => document.getElementById(i).href)")
    Select(driver.find_element(By.ID, "mes")).select_by_value(today[:7])
    months = driver.execute_script("return ['mes-csv', 'mes-xlsx'].map(i => document.getElementById(i).href)")
    got = [_download(h, href) for href in links + months]
    h.check("the day's and the month's CSV and Excel links download them",
            links == [f"{h.BASE}/reports/day?date={PAST}&format=csv", f"{h.BASE}/reports/day?date={PAST}&format=xlsx"]
            and months == [f"{h.BASE}/reports/month?month={today[:7]}&format=csv",
                           f"{h.BASE}/reports/month?month={today[:7]}&format=xlsx"]
            and [s for s, _ in got] == [200] * 4 and got[0][1].startswith(b"\xef\xbb\xbf")
            and got[1][1] == b"PK\x03\x04" and got[3][1] == b"PK\x03\x04", (links, months, got))
    _full_screenshot(driver, "target/screenshots/panel-hoy.png")

    # Printing: the button prints; on paper only the evacuation list, with when it was printed.
    driver.execute_script("window.__impresiones = 0; window.print = () => { window.__impresiones++; }")
    driver.find_element(By.ID, "imprimir").click()
    printed = h.wait(driver, lambda d: d.execute_script("return window.__impresiones === 1"))
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        seen = driver.execute_script("""
            const shown = (e) => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden';
            const list = document.getElementById('evacuacion');
            const outside = [...document.body.querySelectorAll('*')].filter(e => shown(e)
              && !list.contains(e) && !e.contains(list) && e.childElementCount === 0 && e.textContent.trim());
            const inside = [...list.querySelectorAll('button, a, #dentro-resumen')].filter(shown);
            return {outside: outside.slice(0, 5).map(e => e.tagName + ' ' + e.textContent.trim().slice(0, 40)),
                    controls: inside.map(e => e.textContent.trim()),
                    heading: document.getElementById('t-dentro').innerText,
                    stamp: shown(document.getElementById('dentro-impreso'))
                      ? document.getElementById('dentro-impreso').innerText : null,
                    header: [...document.querySelectorAll('#dentro thead th')].map(th => shown(th) && th.innerText),
                    rows: [...document.querySelectorAll('#dentro tbody tr')].filter(shown).length,
                    all: document.querySelectorAll('#dentro tbody tr').length};""")
        driver.save_screenshot("target/screenshots/panel-print.png")
    finally:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    words = driver.execute_script("return fechaEnPalabras(arguments[0])", today)
    h.check("the print button prints, and on paper only the evacuation list shows (names, since, where, printed at)",
            printed and not seen["outside"] and not seen["controls"]
            and seen["heading"].startswith("Lista de evacuación") and seen["header"] == ["Persona", "Desde", "Dónde"]
            and seen["rows"] == seen["all"] >= 2 and seen["stamp"] and seen["stamp"].startswith(f"Impresa el {words} a las "),
            seen)
    _narrow(h, driver, ["dentro", "hoja"], "Hoy")


def check_people(h, driver):
    """ "Personal": the list with areas, templates and states; sync state; add, edit, remove, import, sync."""
    shown = _go(h, driver, "personal")
    rows = h.wait(driver, lambda d: (lambda r: r if all(r.values()) else None)(
        {uid: _row_cells(d, "personas-tabla", uid) for uid in PEOPLE}))
    status, person = _json(h, "/people/7001")
    person = (person or {}).get("data", person) or {}
    names = {t["id"]: t["name"] for t in (_json(h, "/devices")[1] or {}).get("data", [])}
    cell = (rows or {}).get("7001", [""] * 5)
    states_ok = all(f"{STATE_WORDS[s]}" in cell[3] and names.get(dev, dev) in cell[3]
                    for dev, s in (person.get("terminals") or {}).items() if s != "fuera_de_area") \
        if person.get("terminals") and any(s != "al_dia" for s in person["terminals"].values()) \
        else cell[3] in ("Al día en todos sus terminales", "Ningún terminal en sus áreas")
    h.check("Personal lists the people with their areas, fingers/face and where each is pending",
            shown and rows and cell[0] == "Sofía Moreno (7001)" and cell[1] == "Todos los terminales"
            and cell[2] == "Ninguna" and states_ok, (rows, person.get("terminals")))

    status, sync = _json(h, "/people/sync")
    sync = (sync or {}).get("data") or []
    table = h.wait(driver, lambda d: (lambda r: r if len(r) == len(sync) and r else None)(d.execute_script(
        "return [...document.querySelectorAll('#sinc-tabla tbody tr')].map(r => [r.dataset.terminal,"
        " r.cells[1].innerText.trim()])")))
    h.check("the terminals' sync state is shown per terminal, in words",
            status == 200 and table and all(
                any(t == s["device_id"] and st.startswith(STATE_WORDS.get(s["state"], "?")) for t, st in table)
                for s in sync), (table, sync))

    # Adding without the key asks for it.
    driver.find_element(By.ID, "clave-olvidar").click()
    driver.find_element(By.ID, "p-nueva").click()
    for field, value in [("p-id", "7005"), ("p-nombre", "Lucía Núñez"), ("p-tarjeta", "123456"),
                         ("p-areas", "oficina, almacén")]:
        driver.find_element(By.ID, field).send_keys(value)
    driver.find_element(By.CSS_SELECTOR, "#p-form button[type=submit]").click()
    asked = h.wait(driver, lambda d: "clave API" in h.text_of(d, "p-form-estado"))
    field = driver.find_element(By.ID, "clave")
    field.clear()
    field.send_keys(h.KEY)
    driver.find_element(By.CSS_SELECTOR, "#clave-form button[type=submit]").click()
    driver.find_element(By.CSS_SELECTOR, "#p-form button[type=submit]").click()
    added = h.wait(driver, lambda d: _row_cells(d, "personas-tabla", "7005"))
    status, lucia = _json(h, "/people/7005")
    lucia = (lucia or {}).get("data", lucia) or {}
    h.check("with the key a person is added (without it the panel asks for it)",
            asked and added and added[0] == "Lucía Núñez (7005)\nTarjeta 123456" and added[1] == "oficina, almacén"
            and lucia.get("name") == "Lucía Núñez" and lucia.get("card") == 123456
            and lucia.get("areas") == ["oficina", "almacén"], (asked, added, lucia))

    # Editing: a new name, every terminal.
    driver.find_element(By.CSS_SELECTOR, "#personas-tabla [data-editar='7005']").click()
    name = driver.find_element(By.ID, "p-nombre")
    name.clear()
    name.send_keys("Lucía Núñez Gil")
    driver.find_element(By.ID, "p-areas").clear()
    driver.find_element(By.CSS_SELECTOR, "#p-form button[type=submit]").click()
    edited = h.wait(driver, lambda d: (lambda r: r if r and r[0].startswith("Lucía Núñez Gil (7005)") else None)(
        _row_cells(d, "personas-tabla", "7005")))
    status, lucia = _json(h, "/people/7005")
    lucia = (lucia or {}).get("data", lucia) or {}
    h.check("with the key a person is edited",
            edited and edited[1] == "Todos los terminales" and lucia.get("name") == "Lucía Núñez Gil"
            and lucia.get("areas") == ["*"] and lucia.get("card") == 123456, (edited, lucia))

    # Removing: a second click confirms.
    button = "#personas-tabla [data-quitar='7005']"
    driver.find_element(By.CSS_SELECTOR, button).click()
    confirm = h.wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, button).text == "Confirmar")
    driver.find_element(By.CSS_SELECTOR, button).click()
    gone = h.wait(driver, lambda d: _row_cells(d, "personas-tabla", "7005") is None)
    status, body = _json(h, "/people/7005")
    h.check("with the key a person is removed (after a confirmation)",
            confirm and gone and (status == 404 or ((body or {}).get("data", body) or {}).get("deleted") is True),
            (confirm, gone, status, body))

    # Import from a terminal: the simulator's users join the list.
    Select(driver.find_element(By.ID, "importar-terminal")).select_by_value("principal")
    driver.find_element(By.ID, "importar").click()
    said = h.wait(driver, lambda d: (lambda t: t if t.startswith("Importado") or "no " in t else None)(
        h.text_of(d, "sinc-estado")), seconds=60)
    imported = h.wait(driver, lambda d: _row_cells(d, "personas-tabla", "1001"))
    h.check("with the key the staff is imported from a terminal",
            said and said.startswith("Importado de Entrada Principal") and imported
            and imported[0].startswith("Ana García (1001)"), (said, imported))

    # Sync now.
    driver.find_element(By.ID, "sinc-ahora").click()
    said = h.wait(driver, lambda d: (lambda t: t if t and t != "Un momento…" else None)(
        h.text_of(d, "sinc-estado")), seconds=90)
    h.check("with the key sync runs from the panel", said and said.startswith("Sincronización hecha"), said)
    fetched = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name).filter(n => n.includes('/templates'))")
    h.check("the panel never fetches templates' bytes", not fetched, fetched)
    _full_screenshot(driver, "target/screenshots/panel-personal.png")
    _narrow(h, driver, ["personas-tabla", "sinc-tabla"], "Personal")
    driver.get(h.BASE + "/panel#terminales")


def run(h, driver):
    driver.set_window_size(1280, 1000)
    today_punches = seed(h)
    check_today(h, driver, today_punches)
    check_people(h, driver)
