// zkserver office panel. Plain JavaScript, no framework, nothing from other
// hosts. Every text that comes from a terminal is inserted as text, never as
// HTML (names can contain anything).
"use strict";

const VERIFICACION = { 0: "Clave", 1: "Huella", 2: "Tarjeta", 3: "Clave", 4: "Tarjeta", 15: "Rostro", 25: "Palma" };
const TIPO = { 0: "Entrada", 1: "Salida", 2: "Salida a descanso", 3: "Regreso de descanso", 4: "Entrada horas extra", 5: "Salida horas extra" };
const REFRESCO_MS = 30000;
const VIVO_MAX = 100;
const POR_PAGINA = 50;
const CLAVE = "zkserver-clave";

const $ = (id) => document.getElementById(id);
let terminales = [];                 // [{id, name, ip}]
const nombres = new Map();           // terminal -> Map(user_id -> name)
const nombresPedidos = new Map();    // terminal -> time of the last users read
const mensajes = new Map();          // terminal -> {clase, texto} of its last action
let busqueda = null;                 // {path, params, page}

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

function nombre(terminal, userId) {
  const m = nombres.get(terminal);
  if (m && m.has(userId)) return m.get(userId);
  cargarNombres(terminal);
  return null;
}

/** Reads a terminal's users (at most once a minute) and refreshes names shown. */
async function cargarNombres(terminal) {
  const antes = nombresPedidos.get(terminal);
  if (antes && Date.now() - antes < 60000) return;
  nombresPedidos.set(terminal, Date.now());
  const { status, body } = await api(`/devices/${encodeURIComponent(terminal)}/users?pretty=0`);
  if (status !== 200 || !body || !body.data) return;
  const m = new Map();
  for (const u of body.data) m.set(String(u.user_id), String(u.name));
  nombres.set(terminal, m);
  for (const celda of document.querySelectorAll("td.persona")) {
    if (celda.dataset.terminal === terminal) celda.textContent = persona(terminal, celda.dataset.usuario);
  }
  actualizarPersonas();
}

function persona(terminal, userId) {
  const n = (nombres.get(terminal) || new Map()).get(userId);
  return n ? `${n} (${userId})` : userId;
}

function actualizarPersonas() {
  const lista = $("personas");
  const vistos = new Set();
  lista.replaceChildren();
  for (const m of nombres.values()) {
    for (const [id, n] of m) {
      const texto = `${n} (${id})`;
      if (vistos.has(texto)) continue;
      vistos.add(texto);
      lista.append(el("option", { value: texto }));
    }
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
  const hijos = [
    el("h3", { id: `nombre-${t.id}` }, t.name),
    el("p", { class: "ident" }, `${t.id} · ${t.ip}`),
  ];
  if (!s) {
    hijos.push(el("p", { class: "nota" }, "Consultando…"));
  } else if (!s.online) {
    hijos.push(el("p", { class: "estado mal" }, "Sin conexión"));
    if (s.error) hijos.push(el("p", { class: "error" }, s.error));
  } else {
    if (!nombresPedidos.has(t.id)) cargarNombres(t.id);
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
      const dif = s.clock_offset_s;
      const texto = dif === 0 ? "en hora con el servidor" : `${dif > 0 ? "adelantado" : "atrasado"} ${Math.abs(dif)} s respecto del servidor`;
      hijos.push(el("p", { class: Math.abs(dif) > 60 ? "aviso" : null }, `Reloj: ${texto}`));
    }
    if (s.cached) hijos.push(el("p", { class: "nota" }, `Datos de hace ${s.age_s} s (el terminal estaba ocupado).`));
  }
  const ultima = s && s.last_punch;
  hijos.push(el("p", { id: `ultima-${t.id}` }, "Última marcación: ",
    ultima ? `${ultima.timestamp} · ${persona(t.id, String(ultima.user_id))}` : "—"));
  const boton = el("button", { type: "button", class: "secundario" }, "Sincronizar hora");
  const previo = mensajes.get(t.id);
  const resultado = el("p", { class: previo ? previo.clase : "nota", role: "status", "aria-live": "polite" },
    previo ? previo.texto : null);
  boton.addEventListener("click", () => sincronizar(t, boton, resultado));
  hijos.push(boton, resultado);
  card.replaceChildren(...hijos);
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
  } else if (status === 401) {
    decir("error", "La clave API no es correcta.");
  } else {
    decir("error", (body && body.error) || "No se pudo sincronizar la hora.");
  }
}

// --- live punches ------------------------------------------------------------

function fila(p, nueva) {
  nombre(p.device_id, String(p.user_id)); // loads the names when this one is unknown
  const tr = el("tr", { class: nueva ? "nueva" : null },
    el("td", {}, p.timestamp),
    el("td", { class: "persona", "data-terminal": p.device_id, "data-usuario": String(p.user_id) }, persona(p.device_id, String(p.user_id))),
    el("td", {}, p.device_name),
    el("td", {}, VERIFICACION[p.status] || `Código ${p.status}`),
    el("td", {}, TIPO[p.punch] || `Código ${p.punch}`));
  return tr;
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
    const p = JSON.parse(e.data);
    const cuerpo = document.querySelector("#vivo tbody");
    for (const vieja of cuerpo.querySelectorAll("tr.nueva")) vieja.classList.remove("nueva");
    cuerpo.prepend(fila(p, true));
    while (cuerpo.rows.length > VIVO_MAX) cuerpo.deleteRow(-1);
    $("vivo-vacio").hidden = true;
    const t = terminalDe(p.device_id);
    const ultima = $(`ultima-${p.device_id}`);
    if (t && ultima) ultima.textContent = `Última marcación: ${p.timestamp} · ${persona(p.device_id, String(p.user_id))}`;
  });
  fuente.addEventListener("status", (e) => {
    const s = JSON.parse(e.data);
    const t = terminalDe(s.device_id);
    if (t && s.state === "offline") pintarTarjeta(t, { online: false, error: s.error });
    else if (t) refrescarTerminales();
  });
}

// --- search ------------------------------------------------------------------

/** The user id a "Persona" entry means: "Name (id)", an id, or a name. */
function usuarioBuscado(texto) {
  const t = texto.trim();
  if (!t) return "";
  const m = t.match(/\(([^()]+)\)$/);
  if (m) return m[1];
  for (const mapa of nombres.values()) {
    for (const [id, n] of mapa) if (n.toLowerCase() === t.toLowerCase()) return id;
  }
  return t;
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
  let resumen = marcaciones(total);
  if (body.errors && Object.keys(body.errors).length) {
    resumen += `. Sin respuesta: ${Object.entries(body.errors).map(([id, e]) => `${id} (${e})`).join("; ")}`;
  }
  $("b-resumen").textContent = resumen;
  tabla.tBodies[0].replaceChildren(...body.data.map((p) => fila(p, false)));
  tabla.hidden = body.data.length === 0;
  $("b-pagina").textContent = `Página ${pagina + 1} de ${paginas}`;
  $("b-anterior").disabled = pagina === 0;
  $("b-siguiente").disabled = pagina + 1 >= paginas;
  const csv = new URLSearchParams(params);
  csv.set("format", "csv");
  $("b-csv").href = `${path}?${csv}`;
  $("b-paginas").hidden = false;
}

function iniciarBusqueda(e) {
  e.preventDefault();
  const terminal = $("b-terminal").value;
  const params = {};
  const usuario = usuarioBuscado($("b-persona").value);
  if (usuario) params.user_id = usuario;
  if ($("b-desde").value) params.from = $("b-desde").value;
  if ($("b-hasta").value) params.to = $("b-hasta").value;
  const path = terminal ? `/devices/${encodeURIComponent(terminal)}/attendance` : "/attendance/all";
  busqueda = { path, params, page: 0 };
  buscar(0);
}

// --- key ---------------------------------------------------------------------

function mostrarClave() {
  $("clave-estado").textContent = clave() ? "Hay una clave guardada para esta pestaña." : "No hay clave guardada.";
}

// --- start -------------------------------------------------------------------

async function iniciar() {
  $("buscar").addEventListener("submit", iniciarBusqueda);
  $("b-anterior").addEventListener("click", () => buscar(Math.max(0, busqueda.page - 1)));
  $("b-siguiente").addEventListener("click", () => buscar(busqueda.page + 1));
  $("clave-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const valor = $("clave").value.trim();
    if (valor) sessionStorage.setItem(CLAVE, valor);
    $("clave").value = "";
    mostrarClave();
  });
  $("clave-olvidar").addEventListener("click", () => {
    sessionStorage.removeItem(CLAVE);
    mostrarClave();
  });
  mostrarClave();
  const hoy = new Date();
  const local = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 10);
  $("b-hasta").value = local(hoy);
  $("b-desde").value = local(new Date(hoy.getTime() - 6 * 86400000));

  const { status, body } = await api("/devices?pretty=0").catch(() => ({ status: 0, body: null }));
  if (status !== 200 || !body) {
    $("actualizado").textContent = (body && body.error) || "No se pudo leer la lista de terminales.";
    return;
  }
  terminales = body.data.map((d) => ({ id: String(d.id), name: String(d.name), ip: String(d.ip) }));
  for (const t of terminales) {
    $("b-terminal").append(el("option", { value: t.id }, t.name));
    pintarTarjeta(t, null);
  }
  if (!terminales.length) $("terminales").append(el("p", { class: "nota" }, "No hay terminales registrados."));
  conectarVivo();
  refrescarTerminales();
  setInterval(refrescarTerminales, REFRESCO_MS);
}

document.addEventListener("DOMContentLoaded", iniciar);
