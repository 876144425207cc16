// zkserver office panel. Plain JavaScript, no framework, nothing from other
// hosts. Every text that comes from a terminal is inserted as text, never as
// HTML (names can contain anything).
"use strict";

const VERIFICACION = { 0: "Clave", 1: "Huella", 2: "Tarjeta", 3: "Clave", 4: "Tarjeta", 15: "Rostro", 25: "Palma" };
const TIPO = { 0: "Entrada", 1: "Salida", 2: "Salida a descanso", 3: "Regreso de descanso", 4: "Entrada horas extra", 5: "Salida horas extra", 255: "Sin tipo" };
const REFRESCO_MS = 30000;
const VIVO_MAX = 100;
const POR_PAGINA = 50;
const CLAVE = "zkserver-clave";
const NOMBRES_INTERVALO_MS = 5000;    // users reads of one terminal at least this far apart
const NOMBRES_PAUSA_MAX_MS = 120000;  // and at most this far after failed reads
const NOMBRES_REPASO_MS = 20000;      // an id still without a name is looked up again by a punch this much later
const EN_HORA_S = 5;                  // a clock this close to the server's is "en hora"
const CSV_CABECERA = "user_id,timestamp,status,punch,device_id,device_name,name,status_text,punch_text";

const $ = (id) => document.getElementById(id);
let terminales = [];                 // [{id, name, ip}] (ip is empty for push terminals)
const nombres = new Map();           // terminal -> Map(user_id -> name)
const nombresPersonal = new Map();   // user_id -> name from the staff list (each punch carries it); wins over a terminal's
const lecturas = new Map();          // terminal -> users reads (see lecturaDe)
const mensajes = new Map();          // terminal -> {clase, texto} of its last action
const ultimas = new Map();           // terminal -> {timestamp, usuario} of its newest punch seen
const enLinea = new Map();           // terminal -> whether its last status answered
const usuarios = new Map();          // terminal -> how many users its last users read listed
const contactos = new Map();         // push terminal -> {edad (s), leido (ms)}: age of its last contact
const zonas = new Map();             // terminal -> UTC offset of its clock in minutes (its status' timezone)
const SN_VALIDO = /^[A-Za-z0-9_-]{1,64}$/; // what the server accepts as a serial
let busqueda = null;                 // {path, params, page, terminal, quien} of the search shown

/** An element with attributes and children (strings become text nodes). */
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function clave() {
  return sessionStorage.getItem(CLAVE) || "";
}

/** JSON from the API; the key goes along when there is one. */
async function api(path, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  if (clave()) headers["X-API-Key"] = clave();
  const r = await fetch(path, { ...options, headers });
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  return { status: r.status, body };
}

const numero = (n) => Number(n).toLocaleString("es");
const decimal = (n) => Number(n).toLocaleString("es", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const marcaciones = (n) => `${numero(n)} ${n === 1 ? "marcación" : "marcaciones"}`;
const terminalDe = (id) => terminales.find((t) => t.id === id);

// --- names -----------------------------------------------------------------

/**
 * Per terminal: the names read from it, and the users reads. A user id with
 * no name causes one more read of that terminal's users (a person created
 * after the page opened); a new punch of an id still without a name reads
 * them again once NOMBRES_REPASO_MS have passed since its last look-up (the
 * person was named after the first punch), a failed read is tried again, and
 * reads of one terminal are at least NOMBRES_INTERVALO_MS apart (longer after
 * a failed read).
 */
function lecturaDe(terminal) {
  let l = lecturas.get(terminal);
  if (!l) {
    l = { vistos: new Map(), faltan: new Set(), enCurso: null, espera: null, ultima: 0, pausa: NOMBRES_INTERVALO_MS };
    lecturas.set(terminal, l);
  }
  return l;
}

/**
 * The name of a user, or null (then the terminal's users are read once more;
 * again for a new punch, `marcacion`, when the last look-up is old).
 */
function nombre(terminal, userId, marcacion = false) {
  if (nombresPersonal.has(userId)) return nombresPersonal.get(userId);
  const m = nombres.get(terminal);
  if (m && m.has(userId)) return m.get(userId);
  const l = lecturaDe(terminal);
  const visto = l.vistos.get(userId);
  if (visto === undefined || (marcacion && Date.now() - visto >= NOMBRES_REPASO_MS)) {
    l.vistos.set(userId, Date.now());
    l.faltan.add(userId);
    pedirNombres(terminal);
  }
  return null;
}

/** Starts a read of a terminal's users now, or when the rate allows. */
function pedirNombres(terminal) {
  const l = lecturaDe(terminal);
  if (l.enCurso || l.espera) return; // the read in progress is followed by another if ids wait
  const falta = l.ultima + l.pausa - Date.now();
  if (l.ultima && falta > 0) {
    l.espera = setTimeout(() => { l.espera = null; pedirNombres(terminal); }, falta);
    return;
  }
  const pedidos = [...l.faltan];
  l.faltan.clear();
  l.ultima = Date.now();
  l.enCurso = leerNombres(terminal).then((ok) => {
    l.pausa = ok ? NOMBRES_INTERVALO_MS : Math.min(l.pausa * 2, NOMBRES_PAUSA_MAX_MS);
    l.enCurso = null;
    if (!ok) for (const id of pedidos) l.faltan.add(id); // tried again after the pause
    const m = nombres.get(terminal) || new Map();
    for (const id of l.faltan) if (m.has(id)) l.faltan.delete(id);
    if (l.faltan.size) pedirNombres(terminal);
  });
}

/** The names of a terminal, read once if they were never read (for searches). */
async function asegurarNombres(terminal) {
  if (nombres.has(terminal)) return;
  const l = lecturaDe(terminal);
  if (!l.enCurso && !l.espera) pedirNombres(terminal);
  if (l.enCurso) await l.enCurso;
}

/** Reads a terminal's users and refreshes the names shown; false when it failed. */
async function leerNombres(terminal) {
  const { status, body } = await api(`/devices/${encodeURIComponent(terminal)}/users?pretty=0`)
    .catch(() => ({ status: 0, body: null }));
  if (status !== 200 || !body || !Array.isArray(body.data)) return false;
  const m = new Map();
  for (const u of body.data) m.set(String(u.user_id), String(u.name));
  nombres.set(terminal, m);
  usuarios.set(terminal, Number(body.total !== undefined ? body.total : body.data.length));
  const cuenta = $(`usuarios-${terminal}`);
  if (cuenta) cuenta.textContent = `Usuarios: ${numero(usuarios.get(terminal))}`;
  for (const celda of document.querySelectorAll("td.persona")) {
    if (celda.dataset.terminal === terminal) {
      celda.replaceChildren(persona(terminal, celda.dataset.usuario));
    }
  }
  for (const ultima of document.querySelectorAll(`[data-ultima-terminal]`)) {
    if (ultima.dataset.ultimaTerminal === terminal) pintarUltima(terminal);
  }
  actualizarPersonas();
  return true;
}

function persona(terminal, userId) {
  const n = nombresPersonal.get(userId) || (nombres.get(terminal) || new Map()).get(userId);
  return n ? `${n} (${userId})` : userId;
}

/** Lower case, without accents or repeated spaces: "Ramírez" finds "ramirez". */
function normalizar(texto) {
  return String(texto).normalize("NFD").replace(/\p{M}/gu, "").toLowerCase().replace(/\s+/g, " ").trim();
}

/** The people whose name holds every word typed, in any case and accent: [[id, name]]. */
function personasQueCoinciden(texto, terminal) {
  const palabras = normalizar(texto).split(" ").filter(Boolean);
  const encontradas = new Map();
  if (!palabras.length) return [];
  for (const [t, m] of nombres) {
    if (terminal && t !== terminal) continue;
    for (const [id, n] of m) {
      const nn = normalizar(n);
      if (palabras.every((p) => nn.includes(p)) && !encontradas.has(id)) encontradas.set(id, n);
    }
  }
  return [...encontradas];
}

function actualizarPersonas(lista = null) {
  const datalist = $("personas");
  const vistos = new Set();
  datalist.replaceChildren();
  const todas = lista || [...nombres.values()].flatMap((m) => [...m]);
  for (const [id, n] of todas) {
    const texto = `${n} (${id})`;
    if (vistos.has(texto)) continue;
    vistos.add(texto);
    datalist.append(el("option", { value: texto }));
  }
}

// --- terminals ---------------------------------------------------------------

function tarjeta(t) {
  let card = $(`tarjeta-${t.id}`);
  if (!card) {
    card = el("article", { class: "tarjeta", id: `tarjeta-${t.id}`, "aria-labelledby": `nombre-${t.id}` });
    $("terminales").append(card);
  }
  return card;
}

function pintarTarjeta(t, s) {
  const card = tarjeta(t);
  if (s) enLinea.set(t.id, Boolean(s.online));
  if (s && typeof s.timezone === "string") fijarZona(t.id, s.timezone);
  if (s && s.mode === "push") t.push = true;
  const ident = t.push
    ? [t.id, s && s.sn ? `SN ${s.sn}` : null, s && s.ip ? s.ip : null]
    : [t.id, t.ip || null];
  const hijos = [
    el("div", { class: "titulo" }, el("h3", { id: `nombre-${t.id}` }, t.name),
      t.push ? el("span", { class: "insignia", title: "Terminal push: envía sus marcaciones al servidor" }, "Push") : null),
    el("p", { class: "ident" }, ident.filter(Boolean).join(" · ")),
  ];
  if (s && t.push) {
    hijos.push(...detallesPush(t, s));
  } else if (!s) {
    hijos.push(el("p", { class: "nota" }, "Consultando…"));
  } else if (!s.online) {
    hijos.push(el("p", { class: "estado mal" }, "Sin conexión"));
    if (s.error) hijos.push(el("p", { class: "error" }, s.error));
  } else {
    if (!nombres.has(t.id) && !lecturaDe(t.id).ultima) pedirNombres(t.id);
    hijos.push(el("p", { class: "estado ok" }, s.busy ? "En línea (ocupado)" : "En línea"));
    if (s.records !== undefined) {
      const cap = s.records_capacity || 0;
      const pct = cap ? (100 * s.records) / cap : 0;
      hijos.push(el("p", {}, `Registros: ${numero(s.records)} de ${numero(cap)} (${decimal(pct)} %)`));
      const barra = el("meter", { min: 0, max: cap || 1, value: s.records, low: cap * 0.6, high: cap * 0.8, optimum: 0,
        "aria-label": `Registros ocupados: ${pct.toFixed(0)} %` });
      hijos.push(barra);
      if (pct > 80) hijos.push(el("p", { class: "aviso" }, `El registro está al ${pct.toFixed(0)} %: descárguelo y bórrelo pronto.`));
      hijos.push(el("p", {}, `Usuarios: ${numero(s.users)}`));
      const dif = Number(s.clock_offset_s) || 0;
      const texto = Math.abs(dif) < EN_HORA_S ? "en hora" : `${desfaseEnPalabras(dif)} respecto del servidor`;
      hijos.push(el("p", { class: Math.abs(dif) > 60 ? "aviso" : null, title: `${numero(dif)} s` }, `Reloj: ${texto}`));
    }
    if (s.cached) hijos.push(el("p", { class: "nota" }, `Datos de hace ${s.age_s} s (el terminal estaba ocupado).`));
  }
  const ultima = s && s.last_punch;
  const previa = ultimas.get(t.id);
  if (ultima && (!previa || ultima.timestamp >= previa.timestamp)) {
    ultimas.set(t.id, { timestamp: String(ultima.timestamp), usuario: String(ultima.user_id) });
  }
  hijos.push(el("p", { id: `ultima-${t.id}`, "data-ultima-terminal": t.id }));
  if (s && s.forwarded) {
    // Its clock and commands come from the server it is forwarded to:
    // a sync from here could only fail.
    hijos.push(el("p", { class: "nota" }, "Reenviado a otro servidor: la hora y los comandos los da ese servidor."));
  } else {
    const boton = el("button", { type: "button", class: "secundario" }, "Sincronizar hora");
    const previo = mensajes.get(t.id);
    const resultado = el("p", { class: previo ? previo.clase : "nota", role: "status", "aria-live": "polite" },
      previo ? previo.texto : null);
    boton.addEventListener("click", () => sincronizar(t, boton, resultado));
    hijos.push(boton, resultado);
  }
  card.replaceChildren(...hijos);
  pintarUltima(t.id);
}

/** The lines of a push terminal's card: state, last contact, users, punches kept. */
function detallesPush(t, s) {
  const hijos = [el("p", { class: s.online ? "estado ok" : "estado mal" }, s.online ? "En línea" : "Sin conexión")];
  const edad = s.seconds_since_contact;
  if (edad === null || edad === undefined) {
    contactos.delete(t.id);
    hijos.push(el("p", { class: "nota" }, "Aún no se ha comunicado con el servidor."));
  } else {
    contactos.set(t.id, { edad: Number(edad), leido: Date.now() });
    hijos.push(el("p", { id: `contacto-${t.id}`, title: s.last_seen ? String(s.last_seen) : null },
      textoContacto(t.id)));
  }
  pedirNombres(t.id); // the journal's copy, no terminal I/O: read again on every refresh
  const n = usuarios.has(t.id) ? usuarios.get(t.id) : s.users;
  hijos.push(el("p", { id: `usuarios-${t.id}` }, `Usuarios: ${n === null || n === undefined ? "—" : numero(n)}`));
  if (s.journal_punches !== undefined) {
    hijos.push(el("p", {}, `Marcaciones guardadas: ${numero(s.journal_punches)}`));
  }
  return hijos;
}

/** "Último contacto: hace 5 s" of a push terminal, counted from when it was read. */
function textoContacto(terminal) {
  const c = contactos.get(terminal);
  if (!c) return "";
  return `Último contacto: ${haceEnPalabras(c.edad + (Date.now() - c.leido) / 1000)}`;
}

/** An age in words: "hace 5 s", "hace 3 min", "hace 3 h", "hace 2 días". */
function haceEnPalabras(segundos) {
  const d = Math.max(0, Math.floor(Number(segundos) || 0));
  if (d < 60) return `hace ${d} s`;
  if (d < 3600) return `hace ${Math.floor(d / 60)} min`;
  if (d < 86400) return `hace ${Math.floor(d / 3600)} h`;
  const dias = Math.floor(d / 86400);
  return `hace ${numero(dias)} ${dias === 1 ? "día" : "días"}`;
}

/** "Último contacto" of every push card, kept current between refreshes. */
function pintarContactos() {
  for (const terminal of contactos.keys()) {
    const p = $(`contacto-${terminal}`);
    if (p) p.textContent = textoContacto(terminal);
  }
}

/** "Última marcación" of a card: the newest punch seen (by its time), with the name. */
function pintarUltima(terminal) {
  const p = $(`ultima-${terminal}`);
  if (!p) return;
  const u = ultimas.get(terminal);
  if (u) nombre(terminal, u.usuario);
  p.replaceChildren(`Última marcación: ${u ? `${u.timestamp} · ${persona(terminal, u.usuario)}` : "—"}`);
}

/**
 * A clock difference in words: "adelantado 3 min", "atrasado 270 días".
 * Positive seconds: the terminal's clock is ahead of the server's.
 */
function desfaseEnPalabras(segundos) {
  const d = Math.abs(Math.round(Number(segundos) || 0));
  const sentido = segundos > 0 ? "adelantado" : "atrasado";
  const plural = (n, uno, varios) => `${numero(n)} ${n === 1 ? uno : varios}`;
  let texto;
  const minutos = Math.round(d / 60);
  const horas = Math.floor(minutos / 60);
  const dias = Math.floor(d / 86400);
  if (d < 60) texto = `${d} s`;
  else if (minutos < 60) texto = `${minutos} min`;
  else if (horas < 24) texto = `${horas} h${minutos % 60 ? ` ${minutos % 60} min` : ""}`;
  else {
    const resto = Math.round((d - dias * 86400) / 3600);
    texto = plural(dias, "día", "días") + (dias < 7 && resto > 0 && resto < 24 ? ` ${resto} h` : "");
  }
  return `${sentido} ${texto}`;
}

/**
 * Reads the list of terminals again: cards for new ones (a pending serial
 * just registered), none for removed ones. False when it could not be read.
 */
async function leerTerminales() {
  const { status, body } = await api("/devices?pretty=0").catch(() => ({ status: 0, body: null }));
  if (status !== 200 || !body || !Array.isArray(body.data)) {
    $("actualizado").textContent = (body && body.error) || "No se pudo leer la lista de terminales.";
    return false;
  }
  const lista = body.data.map((d) => ({ id: String(d.id), name: String(d.name), ip: d.ip ? String(d.ip) : "" }));
  const ids = new Set(lista.map((t) => t.id));
  for (const t of terminales) {
    if (ids.has(t.id)) continue;
    const card = $(`tarjeta-${t.id}`);
    if (card) card.remove();
    const opcion = [...$("b-terminal").options].find((o) => o.value === t.id);
    if (opcion) opcion.remove();
  }
  terminales = lista.map((t) => {
    const previo = terminalDe(t.id);
    if (previo) return Object.assign(previo, { name: t.name, ip: t.ip });
    $("b-terminal").append(el("option", { value: t.id }, t.name));
    pintarTarjeta(t, null);
    return t;
  });
  $("sin-terminales").hidden = terminales.length > 0;
  return true;
}

/** Everything the page refreshes every 30 s. */
async function refrescar() {
  if (await leerTerminales()) await Promise.all([refrescarTerminales(), refrescarPendientes()]);
}

/** The registration command of a pending serial (the key left for the reader). */
function comandoRegistro(sn) {
  const cuerpo = JSON.stringify({ id: sn.toLowerCase(), name: `Terminal ${sn}`, mode: "push", sn });
  return `curl -X POST -H "X-API-Key: SU_CLAVE_API" -H 'Content-Type: application/json' -d '${cuerpo}' ${location.origin}/devices`;
}

/**
 * The command as text with line-break opportunities (<wbr>, nothing added
 * to what is copied) after each comma of its JSON and before the path: a
 * narrow screen wraps it there, never inside a serial or a word.
 */
function conCortes(texto) {
  const partes = [];
  for (const trozo of texto.split(/(?<=,)|(?=\/devices$)/)) partes.push(trozo, el("wbr", {}));
  partes.pop();
  return partes;
}

/** Push terminals that call the server with a serial nobody registered. */
async function refrescarPendientes() {
  const { status, body } = await api("/push/pending?pretty=0").catch(() => ({ status: 0, body: null }));
  const seccion = $("pendientes");
  if (status !== 200 || !body || !Array.isArray(body.data) || !body.data.length) {
    seccion.hidden = true; // no journal (no push terminals), or none waiting
    $("lista-pendientes").replaceChildren();
    return;
  }
  $("lista-pendientes").replaceChildren(...body.data.map((p) => {
    const sn = String(p.sn);
    const hijos = [
      el("div", { class: "titulo" }, el("h3", {}, `SN ${sn}`), el("span", { class: "insignia" }, "Push")),
      el("p", { class: "ident" }, [p.ip, p.user_agent, p.pushver ? `push ${p.pushver}` : null].filter(Boolean).join(" · ")),
      el("p", {}, `Primera llamada: ${p.first_seen} · última: ${p.last_seen}`),
      el("p", {}, `Marcaciones en espera: ${numero(p.punches)} · usuarios: ${numero(p.users || 0)}`),
    ];
    if (SN_VALIDO.test(sn)) {
      hijos.push(el("p", { class: "nota" },
        "Para registrarlo, ejecute este comando cambiando SU_CLAVE_API por la clave API (el id y el nombre se pueden cambiar); sus marcaciones y usuarios en espera pasan al nuevo terminal:"),
      el("pre", { class: "comando" }, el("code", {}, ...conCortes(comandoRegistro(sn)))));
    }
    hijos.push(...botonDescartar(sn, Number(p.punches) || 0));
    return el("article", { class: "tarjeta pendiente", "data-sn": sn }, ...hijos);
  }));
  seccion.hidden = false;
}

/**
 * The "Descartar" button of a pending serial: a second click confirms, then
 * DELETE /push/pending/{sn} (with the key) removes it with what it uploaded.
 */
function botonDescartar(sn, punches) {
  const boton = el("button", { type: "button", class: "secundario", "data-descartar": sn }, "Descartar");
  const resultado = el("p", { class: "nota", role: "status", "aria-live": "polite" });
  const decir = (clase, texto) => { resultado.className = clase; resultado.textContent = texto; };
  boton.addEventListener("click", async () => {
    if (!clave()) {
      decir("aviso", "Escriba la clave API en «Clave para acciones» para descartar un número de serie.");
      $("clave").focus();
      return;
    }
    if (boton.dataset.confirmar !== "1") {
      boton.dataset.confirmar = "1";
      boton.textContent = "Confirmar descarte";
      decir("aviso", punches
        ? `Se borrarán sus ${marcaciones(punches)} en espera. Pulse «Confirmar descarte» para seguir.`
        : "Pulse «Confirmar descarte» para quitarlo de la lista.");
      return;
    }
    boton.disabled = true;
    const { status, body } = await api(`/push/pending/${encodeURIComponent(sn)}`, { method: "DELETE" })
      .catch(() => ({ status: 0, body: null }));
    if (status === 200 || status === 404) {
      refrescarPendientes();
      return;
    }
    boton.disabled = false;
    decir("error", status === 401 ? "La clave API no es correcta." : (body && body.error) || "No se pudo descartar.");
  });
  return [boton, resultado];
}

async function refrescarTerminales() {
  await Promise.all(terminales.map(async (t) => {
    const { status, body } = await api(`/devices/${encodeURIComponent(t.id)}/status?pretty=0`).catch(() => ({}));
    pintarTarjeta(t, status === 200 && body ? body.data : { online: false, error: "No se pudo consultar el servidor." });
  }));
  $("actualizado").textContent = `Actualizado a las ${new Date().toLocaleTimeString("es")}; se actualiza cada 30 s.`;
}

async function sincronizar(t, boton, resultado) {
  const decir = (clase, texto) => {
    mensajes.set(t.id, { clase, texto });
    resultado.className = clase;
    resultado.textContent = texto;
  };
  if (!clave()) {
    decir("aviso", "Escriba la clave API en «Clave para acciones» para sincronizar la hora.");
    $("clave").focus();
    return;
  }
  boton.disabled = true;
  decir("nota", "Sincronizando…");
  const { status, body } = await api(`/devices/${encodeURIComponent(t.id)}/sync-time`, { method: "POST" })
    .catch(() => ({ status: 0, body: null }));
  boton.disabled = false;
  if (status === 200) {
    decir("estado ok", "Hora sincronizada.");
    refrescarTerminales();
  } else if (status === 202) {
    decir("estado ok", "Comando encolado: el terminal tomará la hora del servidor en su próxima consulta.");
  } else if (status === 401) {
    decir("error", "La clave API no es correcta.");
  } else {
    decir("error", (body && body.error) || "No se pudo sincronizar la hora.");
  }
}

// --- live punches ------------------------------------------------------------

const COLUMNAS = ["Hora", "Persona", "Terminal", "Verificación", "Tipo"];
const verificacion = (codigo) => VERIFICACION[codigo] || `Código ${codigo}`;
const tipo = (codigo) => TIPO[codigo] || `Código ${codigo}`;

/** A "±HH:MM" offset in minutes, or null. */
function minutosDeZona(texto) {
  const m = /^([+-])(\d{2}):(\d{2})$/.exec(String(texto));
  return m ? (m[1] === "-" ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : null;
}

/** Keeps a terminal's clock zone; the live list is put in order again when it changes. */
function fijarZona(terminal, texto) {
  const minutos = minutosDeZona(texto);
  if (minutos === null || zonas.get(terminal) === minutos) return;
  zonas.set(terminal, minutos);
  reordenarVivo();
}

/**
 * The instant of a punch (ms since 1970): its wall-clock time on the
 * terminal's clock, in that terminal's zone (a -04:00 branch and the head
 * office compare by the instant, not by the clock's reading).
 */
function instante(terminal, hora) {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(String(hora));
  if (!m) return 0;
  const reloj = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  return reloj - (zonas.get(terminal) || 0) * 60000;
}

/** Puts the live list in order by instant again (a terminal's zone became known). */
function reordenarVivo() {
  const cuerpo = $("vivo").tBodies[0];
  const filas = [...cuerpo.rows];
  for (const r of filas) r.dataset.instante = instante(r.dataset.terminal, r.dataset.hora);
  filas.sort((a, b) => Number(b.dataset.instante) - Number(a.dataset.instante));
  cuerpo.append(...filas);
}

/** A table row for a punch; each cell carries its column name (shown on phones). */
function fila(p, nueva) {
  const usuario = String(p.user_id);
  if (typeof p.name === "string" && p.name) nombresPersonal.set(usuario, p.name); // the staff list's name
  nombre(p.device_id, usuario, nueva); // reads the terminal's users when this id has no name yet
  const celda = (i, attrs, texto) => el("td", { ...attrs, role: "cell", "data-columna": COLUMNAS[i] }, texto);
  return el("tr", { class: nueva ? "nueva" : null, role: "row", "data-hora": p.timestamp,
    "data-terminal": p.device_id, "data-instante": instante(p.device_id, p.timestamp),
    "data-clave": `${p.device_id}|${usuario}|${p.timestamp}` },
  celda(0, {}, p.timestamp),
  celda(1, { class: "persona", "data-terminal": p.device_id, "data-usuario": usuario }, persona(p.device_id, usuario)),
  celda(2, {}, p.device_name),
  celda(3, {}, verificacion(p.status)),
  celda(4, {}, tipo(p.punch)));
}

/**
 * Adds a punch to the live list in its place by instant, newest first,
 * whatever order punches arrive in (terminals with different clocks or in
 * other time zones, a replay after a reconnection, a catch-up read); a punch
 * already listed is not added again.
 */
function agregarEnVivo(p) {
  const cuerpo = $("vivo").tBodies[0];
  const clave = `${p.device_id}|${p.user_id}|${p.timestamp}`;
  const filas = [...cuerpo.rows];
  if (filas.some((r) => r.dataset.clave === clave)) return;
  const cuando = instante(p.device_id, p.timestamp);
  const siguiente = filas.find((r) => Number(r.dataset.instante) <= cuando);
  if (siguiente || filas.length < VIVO_MAX) { // else it is older than the whole full list
    for (const vieja of cuerpo.querySelectorAll("tr.nueva")) vieja.classList.remove("nueva");
    cuerpo.insertBefore(fila(p, true), siguiente || null);
    while (cuerpo.rows.length > VIVO_MAX) cuerpo.deleteRow(-1);
    $("vivo-vacio").hidden = true;
  }
  const previa = ultimas.get(p.device_id);
  if (!previa || p.timestamp >= previa.timestamp) {
    ultimas.set(p.device_id, { timestamp: p.timestamp, usuario: String(p.user_id) });
    pintarUltima(p.device_id);
  }
}

function conectarVivo() {
  const estado = $("conexion");
  const fuente = new EventSource("/events");
  fuente.addEventListener("open", () => {
    estado.className = "conexion ok";
    estado.textContent = "Conectado: marcaciones en vivo";
  });
  fuente.addEventListener("error", () => {
    estado.className = "conexion mal";
    estado.textContent = "Desconectado del servidor; reintentando…";
  });
  fuente.addEventListener("punch", (e) => {
    let p;
    try { p = JSON.parse(e.data); } catch (error) { return; }
    if (p && typeof p.timestamp === "string") agregarEnVivo(p);
    if (p && typeof p.timestamp === "string") alMarcar();
  });
  fuente.addEventListener("status", (e) => {
    let s;
    try { s = JSON.parse(e.data); } catch (error) { return; }
    const t = s && terminalDe(s.device_id);
    if (t && s.state === "offline" && !t.push) pintarTarjeta(t, { online: false, error: s.error });
    else if (t) refrescarTerminales();
  });
}

// --- search ------------------------------------------------------------------

/**
 * The user id a "Persona" entry means: {id} or {error}. "Name (id)" and an id
 * are taken as they are; otherwise every word typed must be in the person's
 * name (any case, any accents: "elena" finds "Elena Ramírez").
 */
async function usuarioBuscado(texto, terminal) {
  const t = texto.trim();
  if (!t) return { id: "" };
  const m = t.match(/\(([^()]+)\)$/);
  if (m) return { id: m[1].trim() };
  const ids = terminal ? [terminal] : terminales.map((d) => d.id).filter((d) => enLinea.get(d) !== false);
  if (![...nombres.entries()].some(([d, mapa]) => ids.includes(d) && mapa.has(t))) {
    await Promise.all(ids.map(asegurarNombres));
  }
  for (const [d, mapa] of nombres) if (ids.includes(d) && mapa.has(t)) return { id: t };
  const halladas = personasQueCoinciden(t, terminal);
  if (halladas.length === 1) return { id: halladas[0][0], nombre: halladas[0][1] };
  if (halladas.length > 1) {
    actualizarPersonas(halladas);
    const muestra = halladas.slice(0, 6).map(([id, n]) => `${n} (${id})`).join("; ");
    return { error: `Hay ${halladas.length} personas con «${t}»: ${muestra}${halladas.length > 6 ? "…" : ""}. Elija una de la lista.` };
  }
  if (/^\S+$/.test(t) && /\d/.test(t)) return { id: t };
  return { error: `No hay ninguna persona con «${t}» en el nombre. Escriba parte del nombre o el número.` };
}

async function buscar(pagina) {
  const { path, params } = busqueda;
  const q = new URLSearchParams(params);
  q.set("limit", POR_PAGINA);
  q.set("offset", pagina * POR_PAGINA);
  q.set("pretty", "0");
  $("b-resumen").textContent = "Buscando…";
  const { status, body } = await api(`${path}?${q}`).catch(() => ({ status: 0, body: null }));
  const tabla = $("resultados");
  if (status !== 200 || !body) {
    $("b-resumen").textContent = (body && body.error) || "No se pudo buscar.";
    tabla.hidden = true;
    $("b-paginas").hidden = true;
    return;
  }
  busqueda.page = pagina;
  const total = body.matched !== undefined ? body.matched : body.total;
  const paginas = Math.max(1, Math.ceil(total / POR_PAGINA));
  let resumen = `${busqueda.quien ? `${busqueda.quien}: ` : ""}${marcaciones(total)}`;
  if (body.errors && Object.keys(body.errors).length) {
    resumen += `. Sin respuesta: ${Object.entries(body.errors).map(([id, e]) => `${id} (${e})`).join("; ")}`;
  }
  $("b-resumen").textContent = resumen;
  tabla.tBodies[0].replaceChildren(...body.data.map((p) => fila(p, false)));
  tabla.hidden = body.data.length === 0;
  $("b-pagina").textContent = `Página ${pagina + 1} de ${paginas}`;
  $("b-anterior").disabled = pagina === 0;
  $("b-siguiente").disabled = pagina + 1 >= paginas;
  $("b-csv-estado").textContent = "";
  $("b-paginas").hidden = false;
}

async function iniciarBusqueda(e) {
  e.preventDefault();
  const terminal = $("b-terminal").value;
  const params = {};
  $("b-resumen").textContent = "Buscando…";
  const usuario = await usuarioBuscado($("b-persona").value, terminal);
  if (usuario.error) {
    $("b-resumen").textContent = usuario.error;
    $("resultados").hidden = true;
    $("b-paginas").hidden = true;
    return;
  }
  if (usuario.id) params.user_id = usuario.id;
  if ($("b-desde").value) params.from = $("b-desde").value;
  if ($("b-hasta").value) params.to = $("b-hasta").value;
  const path = terminal ? `/devices/${encodeURIComponent(terminal)}/attendance` : "/attendance/all";
  const quien = usuario.nombre ? `${usuario.nombre} (${usuario.id})` : "";
  busqueda = { path, params, page: 0, terminal, quien };
  buscar(0);
}

// --- CSV ---------------------------------------------------------------------

/** One CSV field (RFC 4180 quoting). */
function campoCsv(valor) {
  const s = String(valor === null || valor === undefined ? "" : valor);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Free text for a spreadsheet: a leading = + - @ would be read as a formula. */
const textoHoja = (s) => (/^[=+\-@\t\r]/.test(s) ? `'${s}` : s);

/** The CSV of punches: the server's code columns, then the name and the words. */
function csv(datos) {
  const lineas = [CSV_CABECERA];
  for (const p of datos) {
    const n = (nombres.get(p.device_id) || new Map()).get(String(p.user_id)) || "";
    // Every cell of text origin is neutralised, the user id included.
    lineas.push([textoHoja(String(p.user_id)), p.timestamp, p.status, p.punch,
      textoHoja(p.device_id), textoHoja(p.device_name),
      textoHoja(n), verificacion(p.status), tipo(p.punch)].map(campoCsv).join(","));
  }
  return `\ufeff${lineas.join("\r\n")}\r\n`;
}

/** Downloads every punch of the current search (not only the page shown) as CSV. */
async function descargarCsv() {
  if (!busqueda) return;
  const boton = $("b-csv");
  const estado = $("b-csv-estado");
  boton.disabled = true;
  estado.textContent = "Preparando el CSV…";
  const q = new URLSearchParams(busqueda.params);
  q.set("pretty", "0");
  const { status, body } = await api(`${busqueda.path}?${q}`).catch(() => ({ status: 0, body: null }));
  if (status !== 200 || !body || !Array.isArray(body.data)) {
    boton.disabled = false;
    estado.textContent = (body && body.error) || "No se pudo preparar el CSV.";
    return;
  }
  await Promise.all([...new Set(body.data.map((p) => p.device_id))].map(asegurarNombres));
  const url = URL.createObjectURL(new Blob([csv(body.data)], { type: "text/csv;charset=utf-8" }));
  const partes = ["marcaciones", busqueda.terminal || "todos", busqueda.params.user_id,
    busqueda.params.from, busqueda.params.to].filter(Boolean);
  const enlace = el("a", { href: url, download: `${partes.join("_").replace(/[^\w.-]+/g, "-")}.csv`, hidden: true });
  document.body.append(enlace);
  enlace.click();
  enlace.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  boton.disabled = false;
  estado.textContent = `CSV descargado: ${marcaciones(body.data.length)}.`;
}

// --- key ---------------------------------------------------------------------

function mostrarClave() {
  $("clave-estado").textContent = clave() ? "Hay una clave guardada para esta pestaña." : "No hay clave guardada.";
}

// --- views -------------------------------------------------------------------

const VISTAS = ["terminales", "hoy", "personal"];
let vista = "terminales";

/** Shows the view the address names (#hoy, #personal; else the terminals). */
function mostrarVista() {
  const pedida = location.hash.slice(1);
  vista = VISTAS.includes(pedida) ? pedida : "terminales";
  for (const v of VISTAS) $(`vista-${v}`).hidden = v !== vista;
  for (const a of document.querySelectorAll(".vistas a")) {
    if (a.dataset.vista === vista) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  // Printing from "Hoy" prints the evacuation list only (see app.css).
  document.body.classList.toggle("imprime-evacuacion", vista === "hoy");
  refrescarVista();
}

/** Refreshes what the view shown reads from the server. */
function refrescarVista() {
  if (vista === "hoy") refrescarHoy();
  else if (vista === "personal") refrescarPersonal();
}

/** Whether an answer means the server has no such route (yet): 404 or 405 of the router. */
function rutaAusente(status, body) {
  return status === 405 || (status === 404 && (!body || !body.error || /^Ruta no encontrada/.test(body.error)));
}

/** "YYYY-MM-DD" of a date in the browser's time zone. */
function fechaLocal(d) {
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 10);
}

/** "lunes, 4 de marzo de 2024" of a "YYYY-MM-DD". */
function fechaEnPalabras(fecha) {
  const [a, m, d] = String(fecha).split("-").map(Number);
  return new Date(Date.UTC(a, m - 1, d)).toLocaleDateString("es",
    { weekday: "long", day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });
}

/** The "HH:MM" of a "YYYY-MM-DD HH:MM:SS", with "DD/MM" first when it is not on `dia`. */
function horaCorta(momento, dia) {
  const t = String(momento || "");
  if (t.length < 16) return "—";
  return t.slice(0, 10) === dia ? t.slice(11, 16) : `${t.slice(8, 10)}/${t.slice(5, 7)} ${t.slice(11, 16)}`;
}

/** Minutes as "7 h 05 min". */
function duracion(minutos) {
  const m = Math.max(0, Math.round(Number(minutos) || 0));
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

/**
 * The name of a report's row: the server's (from the staff list), else the
 * one the panel read from the row's terminal, else null.
 */
function nombreConocido(r) {
  if (r.name) return String(r.name);
  const usuario = String(r.user_id);
  for (const terminal of [r.device_id, ...(Array.isArray(r.devices) ? r.devices : [])]) {
    const n = terminal && nombres.get(terminal) && nombres.get(terminal).get(usuario);
    if (n) return n;
  }
  return null;
}

/** "Sofía Moreno (1005)", or the number alone when no name is known. */
const quien = (r) => (nombreConocido(r) ? `${nombreConocido(r)} (${r.user_id})` : String(r.user_id));
const porNombre = (a, b) => String(nombreConocido(a) || a.user_id)
  .localeCompare(String(nombreConocido(b) || b.user_id), "es", { numeric: true });
const personasEnPalabras = (n) => `${numero(n)} ${n === 1 ? "persona" : "personas"}`;

/**
 * A table cell carrying its column name (shown on phones, where the cell is
 * a two-column grid: several children go in one wrapper, beside the name).
 */
function celdaDe(tabla, i, attrs, ...hijos) {
  const nombreColumna = $(tabla).tHead.rows[0].cells[i].textContent;
  const contenido = hijos.length > 1 ? [el("span", { class: "contenido" }, ...hijos)] : hijos;
  return el("td", { ...attrs, role: "cell", "data-columna": nombreColumna }, ...contenido);
}

// --- today ("Hoy") -------------------------------------------------------------

const ESTADO_DIA = { completo: "Completo", incompleto: "Incompleto", ausente: "Ausente", libre: "Libre" };
let presenciaLeida = null;   // {total, hora} of the last presence read
let hoyPendiente = null;     // a refresh planned after a punch

/** Everything "Hoy" shows: who is inside now and the day chosen. */
function refrescarHoy() {
  if (!$("dia-fecha").value) $("dia-fecha").value = fechaLocal(new Date());
  cargarPresencia();
  cargarDia($("dia-fecha").value);
}

/** A punch arrived: "Hoy" is read again shortly (one read for a burst of punches). */
function alMarcar() {
  if (vista !== "hoy" || hoyPendiente) return;
  hoyPendiente = setTimeout(() => {
    hoyPendiente = null;
    cargarPresencia();
    if ($("dia-fecha").value === fechaLocal(new Date())) cargarDia($("dia-fecha").value);
  }, 1500);
}

/** Who is inside now (`GET /reports/presence`): the evacuation list. */
async function cargarPresencia() {
  const { status, body } = await api("/reports/presence").catch(() => ({ status: 0, body: null }));
  const tabla = $("dentro");
  const resumen = $("dentro-resumen");
  if (status !== 200 || !body || !Array.isArray(body.data)) {
    tabla.hidden = true;
    presenciaLeida = null;
    resumen.textContent = rutaAusente(status, body)
      ? "Lista de presentes no disponible: este servidor no tiene aún los informes (GET /reports/presence)."
      : (body && body.error) || "No se pudo leer quién está dentro.";
    $("dentro-impreso").textContent = resumen.textContent;
    return;
  }
  const hoy = fechaLocal(new Date());
  const filas = [...body.data].sort(porNombre).map((p) => el("tr", { role: "row", "data-usuario": String(p.user_id) },
    celdaDe("dentro", 0, { class: "persona" }, quien(p)),
    celdaDe("dentro", 1, { title: String(p.since || "") }, horaCorta(p.since, hoy)),
    celdaDe("dentro", 2, {}, p.device_name || p.device_id || "—")));
  tabla.tBodies[0].replaceChildren(...filas);
  tabla.hidden = filas.length === 0;
  presenciaLeida = { total: filas.length, hora: new Date() };
  resumen.textContent = filas.length
    ? `${personasEnPalabras(filas.length)} dentro · actualizado a las ${presenciaLeida.hora.toLocaleTimeString("es")}.`
    : `No hay nadie dentro · actualizado a las ${presenciaLeida.hora.toLocaleTimeString("es")}.`;
  pintarImpreso();
}

/** The line printed above the evacuation list: when it was printed and how many. */
function pintarImpreso() {
  if (!presenciaLeida) return;
  const ahora = new Date();
  $("dentro-impreso").textContent = `Impresa el ${fechaEnPalabras(fechaLocal(ahora))} a las ${ahora.toLocaleTimeString("es")}`
    + ` · ${personasEnPalabras(presenciaLeida.total)} dentro (datos de las ${presenciaLeida.hora.toLocaleTimeString("es")}).`;
}

/** The day sheet of a date (`GET /reports/day`) and its counts. */
async function cargarDia(fecha) {
  const q = encodeURIComponent(fecha);
  $("hoja-csv").href = `/reports/day?date=${q}&format=csv`;
  $("hoja-csv").download = `dia_${fecha}.csv`;
  $("hoja-xlsx").href = `/reports/day?date=${q}&format=xlsx`;
  $("hoja-xlsx").download = `dia_${fecha}.xlsx`;
  $("t-hoja").textContent = `Hoja del día: ${fechaEnPalabras(fecha)}`;
  const estado = $("dia-estado");
  estado.textContent = "Cargando…";
  const { status, body } = await api(`/reports/day?date=${q}`).catch(() => ({ status: 0, body: null }));
  if ($("dia-fecha").value !== fecha) return; // another date was chosen meanwhile
  const tabla = $("hoja");
  if (status !== 200 || !body || !Array.isArray(body.data)) {
    tabla.hidden = true;
    for (const id of ["cifra-presentes", "cifra-ausentes", "cifra-tarde"]) $(id).textContent = "—";
    const ausente = rutaAusente(status, body);
    for (const id of ["hoja-csv", "hoja-xlsx"]) $(id).setAttribute("aria-disabled", String(ausente));
    estado.textContent = ausente
      ? "Hoja del día no disponible: este servidor no tiene aún los informes (GET /reports/day)."
      : (body && body.error) || "No se pudo leer la hoja del día.";
    return;
  }
  for (const id of ["hoja-csv", "hoja-xlsx"]) $(id).removeAttribute("aria-disabled");
  const filas = [...body.data].sort(porNombre);
  const marcaron = filas.filter((r) => Array.isArray(r.punches) && r.punches.length > 0);
  pintarCifra("presentes", marcaron.length, "presente", "presentes");
  pintarCifra("ausentes", filas.filter((r) => r.state === "ausente").length, "ausente", "ausentes");
  pintarCifra("tarde", filas.filter((r) => Number(r.late_minutes) > 0).length, "con retraso", "con retraso");
  estado.textContent = `${fechaEnPalabras(fecha)}: ${personasEnPalabras(filas.length)} en la hoja.`;
  tabla.tBodies[0].replaceChildren(...filas.map((r) => filaDia(r, fecha)));
  tabla.hidden = filas.length === 0;
}

/** One of the day's counts, with its word in the singular or the plural. */
function pintarCifra(id, n, uno, varios) {
  $(`cifra-${id}`).textContent = numero(n);
  $(`cifra-${id}-texto`).textContent = n === 1 ? uno : varios;
}

/** A row of the day sheet. */
function filaDia(r, fecha) {
  const marcas = Array.isArray(r.punches) ? r.punches : [];
  const entrada = r.first_in || marcas[0];
  let salida = horaCorta(r.last_out, fecha);
  if (r.state === "incompleto") salida = "Sin salida";
  const estado = [ESTADO_DIA[r.state] || String(r.state || "—")];
  if (Number(r.early_leave_minutes) > 0) estado.push(`salió ${numero(r.early_leave_minutes)} min antes`);
  return el("tr", { role: "row", "data-usuario": String(r.user_id), "data-estado": String(r.state || "") },
    celdaDe("hoja", 0, { class: "persona" }, quien(r)),
    celdaDe("hoja", 1, {}, marcas.length ? horaCorta(entrada, fecha) : "—"),
    celdaDe("hoja", 2, {}, marcas.length ? salida : "—"),
    celdaDe("hoja", 3, { class: "envuelve" }, marcas.length ? marcas.map((m) => horaCorta(m, fecha)).join(", ") : "—"),
    celdaDe("hoja", 4, {}, marcas.length ? duracion(r.worked) : "—"),
    celdaDe("hoja", 5, { class: `estado-dia ${r.state || ""}` }, estado.join(", ")),
    celdaDe("hoja", 6, {}, Number(r.late_minutes) > 0 ? `${numero(r.late_minutes)} min` : "—"));
}

/** The options of the last `cuantos` months, this one first: "diciembre de 2026". */
function ultimosMeses(hoy, cuantos) {
  const opciones = [];
  for (let i = 0; i < cuantos; i++) {
    const d = new Date(Date.UTC(hoy.getFullYear(), hoy.getMonth() - i, 1));
    const valor = d.toISOString().slice(0, 7);
    opciones.push(el("option", { value: valor },
      d.toLocaleDateString("es", { month: "long", year: "numeric", timeZone: "UTC" })));
  }
  return opciones;
}

/** The month export links follow the month chosen. */
function pintarMes() {
  const mes = $("mes").value;
  for (const formato of ["csv", "xlsx"]) {
    const a = $(`mes-${formato}`);
    a.href = `/reports/month?month=${encodeURIComponent(mes)}&format=${formato}`;
    a.download = `mes_${mes}.${formato}`;
    if (mes) a.removeAttribute("aria-disabled");
    else a.setAttribute("aria-disabled", "true");
  }
}

function iniciarHoy() {
  const hoy = new Date();
  $("dia-fecha").value = fechaLocal(hoy);
  $("dia-fecha").max = fechaLocal(hoy);
  $("mes").replaceChildren(...ultimosMeses(hoy, 24));
  pintarMes();
  $("mes").addEventListener("change", pintarMes);
  $("mes-form").addEventListener("submit", (e) => e.preventDefault());
  $("dia-form").addEventListener("submit", (e) => {
    e.preventDefault();
    if ($("dia-fecha").value) cargarDia($("dia-fecha").value);
  });
  $("dia-hoy").addEventListener("click", () => {
    $("dia-fecha").value = fechaLocal(new Date());
    refrescarHoy();
  });
  $("imprimir").addEventListener("click", () => {
    pintarImpreso();
    window.print();
  });
  window.addEventListener("beforeprint", pintarImpreso);
}

// --- staff ("Personal") --------------------------------------------------------

const ESTADO_SINC = { al_dia: "Al día", pendiente: "Pendiente", incompatible: "Incompatible", error: "Error" };
const PERSONAS_MAX = 200;
let editando = null;          // user_id of the person in the form, or null for a new one

/** The list and the terminals' sync state. */
function refrescarPersonal() {
  pintarImportar();
  cargarPersonal();
  cargarSinc();
}

/** The terminals one can import from. */
function pintarImportar() {
  const select = $("importar-terminal");
  const elegido = select.value;
  select.replaceChildren(...terminales.map((t) => el("option", { value: t.id, title: t.id }, t.name)));
  if (terminales.some((t) => t.id === elegido)) select.value = elegido;
}

const nombreTerminal = (id) => (terminalDe(id) ? terminalDe(id).name : id);

/** The people of the list (`GET /people`), searched by name or number. */
async function cargarPersonal() {
  const q = new URLSearchParams({ limit: PERSONAS_MAX });
  if ($("p-q").value.trim()) q.set("q", $("p-q").value.trim());
  const { status, body } = await api(`/people?${q}`).catch(() => ({ status: 0, body: null }));
  const tabla = $("personas-tabla");
  const estado = $("p-estado");
  if (status !== 200 || !body || !Array.isArray(body.data)) {
    tabla.hidden = true;
    estado.textContent = rutaAusente(status, body)
      ? "Personal no disponible: este servidor no tiene aún la lista de personal (GET /people)."
      : (body && body.error) || "No se pudo leer el personal.";
    return;
  }
  const total = body.matched !== undefined ? body.matched : (body.total !== undefined ? body.total : body.data.length);
  const filas = [...body.data].filter((p) => !p.deleted).sort(porNombre).map(filaPersona);
  tabla.tBodies[0].replaceChildren(...filas);
  tabla.hidden = filas.length === 0;
  estado.textContent = filas.length === 0
    ? ($("p-q").value.trim() ? "Nadie coincide con la búsqueda." : "El personal está vacío: añada personas o impórtelas de un terminal.")
    : `${personasEnPalabras(total)}${total > filas.length ? `; se muestran ${numero(filas.length)}: busque por nombre` : ""}.`;
}

/** "2 huellas · rostro" of a person's templates (their bytes are never read here). */
function plantillasEnPalabras(plantillas) {
  const lista = Array.isArray(plantillas) ? plantillas : [];
  const huellas = lista.filter((t) => t.kind === "finger").length;
  const rostros = lista.filter((t) => t.kind === "face").length;
  const otras = lista.length - huellas - rostros;
  const partes = [];
  if (huellas) partes.push(`${huellas} ${huellas === 1 ? "huella" : "huellas"}`);
  if (rostros) partes.push("rostro");
  if (otras) partes.push(`${otras} ${otras === 1 ? "otra" : "otras"}`);
  return partes.length ? partes.join(" · ") : "Ninguna";
}

/** Where a person is missing or pending, by state: [elements]. */
function terminalesDePersona(estados) {
  const grupos = new Map();
  for (const [terminal, e] of Object.entries(estados || {})) {
    if (e === "fuera_de_area") continue;
    if (!grupos.has(e)) grupos.set(e, []);
    grupos.get(e).push(nombreTerminal(terminal));
  }
  if (!grupos.size) return [el("span", { class: "nota" }, "Ningún terminal en sus áreas")];
  const orden = ["error", "pendiente", "incompatible", "al_dia"];
  const claves = [...grupos.keys()].sort((a, b) => orden.indexOf(a) - orden.indexOf(b));
  if (claves.length === 1 && claves[0] === "al_dia") {
    return [el("span", { class: "estado-sinc al_dia" }, "Al día en todos sus terminales")];
  }
  return claves.map((e) => el("span", { class: `estado-sinc ${e}`, "data-estado": e },
    `${ESTADO_SINC[e] || e}: ${grupos.get(e).sort().join(", ")}`)).flatMap((s, i) => (i ? [el("br"), s] : [s]));
}

/** A row of the staff list, with its buttons. */
function filaPersona(p) {
  const detalles = [quien(p)];
  const extra = [];
  if (p.card !== null && p.card !== undefined) extra.push(`Tarjeta ${p.card}`);
  if (p.password_set) extra.push("con clave");
  if (Number(p.privilege) === 14) extra.push("Administrador");
  if (extra.length) detalles.push(el("br"), el("span", { class: "nota" }, extra.join(" · ")));
  const areas = Array.isArray(p.areas) && p.areas.length && !p.areas.includes("*") ? p.areas.join(", ") : "Todos los terminales";
  const editar = el("button", { type: "button", class: "secundario", "data-editar": p.user_id }, "Editar");
  editar.addEventListener("click", () => abrirFicha(p));
  const [quitar, resultado] = botonQuitar(p);
  return el("tr", { role: "row", "data-usuario": String(p.user_id) },
    celdaDe("personas-tabla", 0, { class: "persona" }, ...detalles),
    celdaDe("personas-tabla", 1, { class: "envuelve" }, areas),
    celdaDe("personas-tabla", 2, {}, plantillasEnPalabras(p.templates)),
    celdaDe("personas-tabla", 3, { class: "envuelve terminales-persona" }, ...terminalesDePersona(p.terminals)),
    celdaDe("personas-tabla", 4, { class: "acciones" }, editar, quitar, resultado));
}

/** Asks for the key when there is none: false then. */
function pideClave(decir, para) {
  if (clave()) return true;
  decir("aviso", `Escriba la clave API en «Clave para acciones» para ${para}.`);
  $("clave").focus();
  return false;
}

/** The Spanish of a refused write. */
function errorDeEscritura(status, body, ruta, texto) {
  if (status === 401) return "La clave API no es correcta.";
  if (rutaAusente(status, body)) return `${texto}: no disponible en este servidor (${ruta}).`;
  return (body && body.error) || `${texto}: no se pudo.`;
}

/** "Quitar" of a person: a second click confirms; then removed from every terminal. */
function botonQuitar(p) {
  const boton = el("button", { type: "button", class: "secundario", "data-quitar": p.user_id }, "Quitar");
  const resultado = el("span", { class: "nota", role: "status", "aria-live": "polite" });
  const decir = (clase, texto) => { resultado.className = clase; resultado.textContent = texto; };
  boton.addEventListener("click", async () => {
    if (!pideClave(decir, "quitar a una persona")) return;
    if (boton.dataset.confirmar !== "1") {
      boton.dataset.confirmar = "1";
      boton.textContent = "Confirmar";
      decir("aviso", ` Se quitará de todos los terminales. Pulse «Confirmar».`);
      return;
    }
    boton.disabled = true;
    const ruta = `DELETE /people/${p.user_id}`;
    const { status, body } = await api(`/people/${encodeURIComponent(p.user_id)}`, { method: "DELETE" })
      .catch(() => ({ status: 0, body: null }));
    if (status === 200 || status === 202 || status === 204) {
      $("p-estado").textContent = `${quien(p)} se quita del personal y de todos sus terminales.`;
      cargarPersonal();
      cargarSinc();
      return;
    }
    boton.disabled = false;
    decir("error", ` ${errorDeEscritura(status, body, ruta, "Quitar")}`);
  });
  return [boton, resultado];
}

/** Opens the form: a person to edit, or null for a new one. */
function abrirFicha(p) {
  editando = p ? String(p.user_id) : null;
  $("p-form-titulo").textContent = p ? `Editar a ${quien(p)}` : "Añadir persona";
  $("p-id").value = p ? String(p.user_id) : "";
  $("p-id").readOnly = Boolean(p);
  $("p-nombre").value = p ? String(p.name || "") : "";
  $("p-tarjeta").value = p && p.card !== null && p.card !== undefined ? String(p.card) : "";
  $("p-areas").value = p && Array.isArray(p.areas) && !p.areas.includes("*") ? p.areas.join(", ") : "";
  $("p-privilegio").value = p && Number(p.privilege) === 14 ? "14" : "0";
  $("p-clave").value = "";
  $("p-clave").placeholder = p && p.password_set ? "Sin cambios" : "Sin clave";
  $("p-form-estado").textContent = "";
  $("p-form").hidden = false;
  (p ? $("p-nombre") : $("p-id")).focus();
}

/** Saves the form: `POST /people` for a new person, `PUT /people/{id}` for a change. */
async function guardarFicha(e) {
  e.preventDefault();
  const estado = $("p-form-estado");
  const decir = (clase, texto) => { estado.className = `${clase} ancho`; estado.textContent = texto; };
  if (!pideClave(decir, "cambiar el personal")) return;
  const id = $("p-id").value.trim();
  const nombreNuevo = $("p-nombre").value.trim();
  const tarjeta = $("p-tarjeta").value.trim();
  if (!/^\d{1,9}$/.test(id)) return decir("error", "El número de la persona son solo cifras (hasta 9).");
  if (!nombreNuevo) return decir("error", "Escriba el nombre.");
  if (tarjeta && !/^\d{1,10}$/.test(tarjeta)) return decir("error", "La tarjeta es un número (hasta 10 cifras).");
  const areas = $("p-areas").value.split(",").map((a) => a.trim()).filter(Boolean);
  const datos = { name: nombreNuevo, card: tarjeta ? Number(tarjeta) : null,
    areas: areas.length ? areas : ["*"], privilege: Number($("p-privilegio").value) };
  if ($("p-clave").value) datos.password = $("p-clave").value;
  const nueva = editando === null;
  const ruta = nueva ? "POST /people" : `PUT /people/${id}`;
  decir("nota", "Guardando…");
  const { status, body } = await api(nueva ? "/people" : `/people/${encodeURIComponent(id)}`, {
    method: nueva ? "POST" : "PUT",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(nueva ? { user_id: id, ...datos } : datos),
  }).catch(() => ({ status: 0, body: null }));
  if (status === 200 || status === 201) {
    $("p-form").hidden = true;
    $("p-clave").value = "";
    $("p-estado").textContent = `Guardado: ${nombreNuevo} (${id}). Se enviará a los terminales de sus áreas.`;
    cargarPersonal();
    cargarSinc();
    return;
  }
  decir("error", errorDeEscritura(status, body, ruta, "Guardar"));
}

/** "2 personas por añadir, 3 huellas o rostros por enviar" of a terminal's pending work. */
function pendienteEnPalabras(p) {
  const n = (k) => Number((p || {})[k]) || 0;
  const partes = [];
  if (n("users_add")) partes.push(`${personasEnPalabras(n("users_add"))} por añadir`);
  if (n("users_update")) partes.push(`${personasEnPalabras(n("users_update"))} por cambiar`);
  if (n("users_remove")) partes.push(`${personasEnPalabras(n("users_remove"))} por quitar`);
  if (n("templates_add")) partes.push(`${numero(n("templates_add"))} ${n("templates_add") === 1 ? "huella o rostro" : "huellas o rostros"} por enviar`);
  if (n("templates_remove")) partes.push(`${numero(n("templates_remove"))} ${n("templates_remove") === 1 ? "huella o rostro" : "huellas o rostros"} por borrar`);
  return partes.length ? partes.join(", ") : "Nada";
}

/** The terminals' sync state (`GET /people/sync`). */
async function cargarSinc() {
  pintarImportar();
  const { status, body } = await api("/people/sync").catch(() => ({ status: 0, body: null }));
  const tabla = $("sinc-tabla");
  const datos = body && (Array.isArray(body.data) ? body.data : Array.isArray(body) ? body : null);
  if (status !== 200 || !datos) {
    tabla.hidden = true;
    $("sinc-estado").textContent = rutaAusente(status, body)
      ? "Estado de sincronización no disponible: este servidor no tiene aún la sincronización del personal (GET /people/sync)."
      : (body && body.error) || "No se pudo leer el estado de sincronización.";
    return;
  }
  tabla.tBodies[0].replaceChildren(...datos.map((s) => el("tr", { role: "row", "data-terminal": String(s.device_id) },
    celdaDe("sinc-tabla", 0, { class: "persona" }, `${nombreTerminal(s.device_id)} (${s.device_id})`),
    celdaDe("sinc-tabla", 1, { class: "envuelve" }, el("span", { class: `estado-sinc ${s.state}` }, ESTADO_SINC[s.state] || String(s.state)),
      s.error ? el("span", { class: "error" }, `: ${s.error}`) : null),
    celdaDe("sinc-tabla", 2, { class: "envuelve" }, pendienteEnPalabras(s.pending)),
    celdaDe("sinc-tabla", 3, {}, Number(s.incompatible) ? numero(s.incompatible) : "—"),
    celdaDe("sinc-tabla", 4, {}, s.last_sync ? String(s.last_sync) : "Nunca"))));
  tabla.hidden = datos.length === 0;
  if (!datos.length) $("sinc-estado").textContent = "No hay terminales que sincronizar.";
}

/** Runs a write of the sync section and says how it went. */
async function accionSinc(boton, para, ruta, cuerpo, exito) {
  const decir = (clase, texto) => { $("sinc-estado").className = clase; $("sinc-estado").textContent = texto; };
  if (!pideClave(decir, para)) return;
  boton.disabled = true;
  decir("nota", "Un momento…");
  const [metodo, camino] = ruta.split(" ");
  const { status, body } = await api(camino, { method: metodo, headers: { "Content-Type": "application/json" },
    body: JSON.stringify(cuerpo) }).catch(() => ({ status: 0, body: null }));
  boton.disabled = false;
  if (status === 200 || status === 202) {
    decir("estado ok", exito(status, body || {}));
    cargarPersonal();
    cargarSinc();
  } else {
    decir("error", errorDeEscritura(status, body, ruta, para[0].toUpperCase() + para.slice(1)));
  }
}

/** ": 2 al día, 1 pendiente, 1 con error" of a sync's answer (per terminal). */
function sincronizadoEnPalabras(b) {
  if (!Array.isArray(b.data)) return "";
  const cuenta = (estado) => b.data.filter((s) => s.state === estado).length;
  const partes = [];
  const terminalesEn = (n) => `${numero(n)} ${n === 1 ? "terminal" : "terminales"}`;
  if (cuenta("al_dia")) partes.push(`${terminalesEn(cuenta("al_dia"))} al día`);
  if (cuenta("pendiente")) partes.push(`${terminalesEn(cuenta("pendiente"))} con cambios pendientes (un terminal push los recibe en su próxima consulta; uno sin conexión, al volver)`);
  if (cuenta("error")) partes.push(`${terminalesEn(cuenta("error"))} con error`);
  return partes.length ? `: ${partes.join(", ")}` : "";
}

/** Counts of an import's answer in words, when it gives them. */
function importadoEnPalabras(b) {
  const d = b.data && typeof b.data === "object" ? b.data : b;
  const gente = d.people !== undefined ? d.people : d.users;
  const plantillas = d.templates;
  const partes = [];
  if (typeof gente === "number") partes.push(personasEnPalabras(gente));
  if (typeof plantillas === "number") partes.push(`${numero(plantillas)} ${plantillas === 1 ? "huella o rostro" : "huellas o rostros"}`);
  return partes.length ? `: ${partes.join(", ")}` : "";
}

function iniciarPersonal() {
  $("p-buscar").addEventListener("submit", (e) => { e.preventDefault(); cargarPersonal(); });
  $("p-nueva").addEventListener("click", () => abrirFicha(null));
  $("p-cancelar").addEventListener("click", () => { $("p-form").hidden = true; });
  $("p-form").addEventListener("submit", guardarFicha);
  $("sinc-ahora").addEventListener("click", (e) => accionSinc(e.currentTarget, "sincronizar los terminales",
    "POST /people/sync", {}, (status, b) => `Sincronización hecha${sincronizadoEnPalabras(b)}.`));
  $("importar").addEventListener("click", (e) => {
    if (!$("importar-terminal").value) pintarImportar();
    const terminal = $("importar-terminal").value;
    if (!terminal) return;
    accionSinc(e.currentTarget, "importar el personal de un terminal", "POST /people/import", { device_id: terminal },
      (status, b) => (status === 202
        ? `Pedido a ${nombreTerminal(terminal)}: subirá sus usuarios y huellas en su próxima consulta.`
        : `Importado de ${nombreTerminal(terminal)}${importadoEnPalabras(b)}.`));
  });
}

function iniciarVistas() {
  iniciarHoy();
  iniciarPersonal();
  window.addEventListener("hashchange", () => { mostrarVista(); window.scrollTo(0, 0); });
  setInterval(() => { if (vista === "hoy") refrescarHoy(); else if (vista === "personal") cargarSinc(); }, REFRESCO_MS);
  mostrarVista();
}

// --- start -------------------------------------------------------------------

async function iniciar() {
  $("buscar").addEventListener("submit", iniciarBusqueda);
  $("b-anterior").addEventListener("click", () => buscar(Math.max(0, busqueda.page - 1)));
  $("b-siguiente").addEventListener("click", () => buscar(busqueda.page + 1));
  $("b-csv").addEventListener("click", descargarCsv);
  $("clave-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const valor = $("clave").value.trim();
    if (valor) sessionStorage.setItem(CLAVE, valor);
    $("clave").value = "";
    mostrarClave();
    refrescarTerminales(); // with the key, push cards show their serial
  });
  $("clave-olvidar").addEventListener("click", () => {
    sessionStorage.removeItem(CLAVE);
    mostrarClave();
  });
  mostrarClave();
  iniciarVistas();
  const hoy = new Date();
  const local = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 10);
  $("b-hasta").value = local(hoy);
  $("b-desde").value = local(new Date(hoy.getTime() - 6 * 86400000));

  if (!(await leerTerminales())) return;
  conectarVivo();
  refrescarTerminales();
  refrescarPendientes();
  setInterval(refrescar, REFRESCO_MS);
  setInterval(pintarContactos, 1000);
}

document.addEventListener("DOMContentLoaded", iniciar);
