// The meeting page: prejoin (name, camera/mic preview and choice), then the
// meeting over the signaling protocol of docs/signaling.md: a publish connection
// for our camera and microphone (and one for a screen share), a subscribe
// connection for everyone else's.
// Link options (as Jitsi's): ?name=<display name>&prejoin=0 joins at once;
// ?jwt=<join token> joins as the person an API client's token names (JaaS, LiveKit).
// Sites that require a login show a login form (internal accounts, LDAP) or an
// OpenID button; guests, where allowed, wait for the host if needed.

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const room = decodeURIComponent(location.pathname.replace(/^\//, ''));
const storageKey = `confer:${room}`;

const state = {
  ws: null, nextId: 1, pending: new Map(), me: null, role: null,
  local: null, publisher: null, subscriber: null, negotiation: Promise.resolve(),
  people: new Map(), tiles: new Map(), micMuted: false, cameraOff: false, leaving: false,
  iceServers: [], screen: null, screenPublisher: null, speaker: null, locked: false,
  diagnostics: [], site: { auth: 'open', guests_allowed: true, user: null }, jwt: params.get('jwt'),
  lobby: new Map(), admission: null, waitingFor: null,
};

// The join token is read once: it leaves the address bar (and so the history, a
// bookmark, a shared screenshot or a Referer) at once.
if (params.has('jwt')) {
  const clean = new URL(window.location.href);
  clean.searchParams.delete('jwt');
  window.history.replaceState(null, '', clean.pathname + clean.search + clean.hash);
}

// A tile is keyed by the stream id the node gives a participant's tracks: their
// participant id, with `-screen` appended for their screen share.
const SCREEN = '-screen';
const ownerOf = (tileId) => (tileId.endsWith(SCREEN) ? tileId.slice(0, -SCREEN.length) : tileId);

// ?relay=1 sends all media through the TURN server (for networks that block UDP
// to the node, and to test the relay).
function peerConfig() {
  return { iceServers: state.iceServers, iceTransportPolicy: params.get('relay') === '1' ? 'relay' : 'all' };
}

// The last hundred things that happened to the page's connections, for troubleshooting.
function diagnose(text) {
  state.diagnostics.push(`${new Date().toISOString()} ${text}`);
  if (state.diagnostics.length > 100) state.diagnostics.shift();
}

// A connection to the node, whose state changes go to the diagnostics.
function newPeer(label) {
  const pc = new RTCPeerConnection(peerConfig());
  const note = (what) => diagnose(`${label} ${what}`);
  pc.addEventListener('icegatheringstatechange', () => note(`gathering ${pc.iceGatheringState}`));
  pc.addEventListener('icecandidate', (e) => note(`candidate ${e.candidate ? e.candidate.candidate : 'end'}`));
  pc.addEventListener('connectionstatechange', () => note(`connection ${pc.connectionState}`));
  pc.addEventListener('iceconnectionstatechange', () => note(`ice ${pc.iceConnectionState}`));
  return pc;
}

function notice(text) {
  const n = $('notice');
  n.textContent = text;
  n.hidden = !text;
}

// ---------- signaling ----------

function connect() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
    ws.onopen = () => resolve(ws);
    ws.onerror = () => reject(new Error('cannot reach the meeting server'));
    ws.onmessage = (e) => onFrame(JSON.parse(e.data));
    ws.onclose = (e) => { state.lastCloseCode = e.code; onClose(); };
    state.ws = ws;
  });
}

function request(body) {
  const id = state.nextId++;
  state.ws.send(JSON.stringify({ v: 1, id, ...body }));
  return new Promise((resolve, reject) => state.pending.set(id, { resolve, reject }));
}

function onFrame(frame) {
  if (frame.re !== undefined && state.pending.has(frame.re)) {
    const { resolve, reject } = state.pending.get(frame.re);
    state.pending.delete(frame.re);
    if (frame.type === 'error') reject(Object.assign(new Error(frame.message), { code: frame.code }));
    else resolve(frame);
    return;
  }
  if (frame.type === 'event') onEvent(frame.event);
  else if (frame.type === 'chat') addChat(frame.name, frame.text);
  else if (frame.type === 'subscribe_offer' && !state.leaving) negotiate(() => answerSubscription(frame.sdp));
  else if (frame.type === 'active_speaker') showSpeaker(frame.participant);
  else if (frame.type === 'joined') state.admission?.resolve(frame);
  else if (frame.type === 'join_refused') state.admission?.reject(Object.assign(new Error(frame.message), { code: frame.code }));
  else if (frame.type === 'waiting') showWaiting(frame.reason);
  else if (frame.type === 'password_tries_locked') {
    const minutes = Math.max(1, Math.round(frame.retry_after_seconds / 60));
    notice(`Many wrong passwords were tried for this room from many places: password tries are paused for about ${minutes} min. People already here stay.`);
  }
  else if (frame.type === 'error') notice(frame.message);
}

function onClose() {
  // Requests still waiting will get no reply: fail them, so nothing queued behind them hangs.
  for (const { reject } of state.pending.values()) reject(Object.assign(new Error('connection lost'), { code: 'connection_lost' }));
  state.pending.clear();
  state.admission?.reject(Object.assign(new Error('Connection lost while waiting. Try again.'), { code: 'connection_lost' }));
  if (state.leaving) return;
  // A dropped connection: come back as the same participant within 30 s.
  if (state.me && !state.rejoining) {
    notice('Connection lost. Reconnecting…');
    state.rejoining = true;
    setTimeout(() => rejoin()
      .catch(() => notice('Could not reconnect. Reload the page to join again.'))
      .finally(() => { state.rejoining = false; }), 1000);
  }
}

// ---------- media ----------

async function openDevices(cameraId, micId) {
  if (state.local) state.local.getTracks().forEach((t) => t.stop());
  state.local = await navigator.mediaDevices.getUserMedia({
    audio: micId ? { deviceId: { exact: micId } } : true,
    video: cameraId ? { deviceId: { exact: cameraId } } : true,
  });
  $('preview').srcObject = state.local;
  return state.local;
}

async function listDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  for (const [select, kind] of [[$('camera'), 'videoinput'], [$('microphone'), 'audioinput']]) {
    select.replaceChildren(...devices.filter((d) => d.kind === kind).map((d, i) => {
      const o = document.createElement('option');
      o.value = d.deviceId;
      o.textContent = d.label || `${kind === 'videoinput' ? 'Camera' : 'Microphone'} ${i + 1}`;
      return o;
    }));
  }
}

// The node needs no trickle: offers and answers go out with their candidates.
// Waits for gathering to complete; after a second, settles for the candidates
// found so far (some browsers take seconds to finish), but never for none.
function gathered(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const started = Date.now();
    const check = () => {
      const hasCandidate = /\r\na=candidate:/.test(pc.localDescription?.sdp || '');
      const waited = Date.now() - started;
      if (pc.iceGatheringState === 'complete' || (hasCandidate && waited >= 1000) || waited >= 10000) {
        pc.removeEventListener('icegatheringstatechange', check);
        pc.removeEventListener('icecandidate', check);
        clearInterval(timer);
        resolve();
      }
    };
    const timer = setInterval(check, 100);
    pc.addEventListener('icegatheringstatechange', check);
    pc.addEventListener('icecandidate', check);
  });
}

function negotiate(step) {
  // Once we are leaving (or were removed), connections close under us: not a problem to show.
  state.negotiation = state.negotiation.then(step).catch((e) => {
    if (!state.leaving && e.code !== 'connection_lost') notice(`Media problem: ${e.message}`);
  });
  return state.negotiation;
}

// Publishes a source on a connection of its own ('camera': camera and microphone;
// 'screen': a screen share), replacing that source's earlier connection. Starting
// or stopping a share leaves the camera's connection alone.
async function publish(source = 'camera') {
  const [key, stream] = source === 'screen' ? ['screenPublisher', state.screen] : ['publisher', state.local];
  state[key]?.close();
  const pc = newPeer(source);
  state[key] = pc;
  stream.getTracks().forEach((t) => pc.addTrack(t, stream));
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const reply = await request({ type: 'publish', source, sdp: pc.localDescription.sdp });
  await pc.setRemoteDescription({ type: 'answer', sdp: reply.sdp });
}

async function startScreenShare() {
  try {
    state.screen = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
  } catch (e) {
    if (e.name !== 'NotAllowedError' && e.name !== 'AbortError') notice(`Cannot share the screen: ${e.message}`);
    return;
  }
  // The browser's own "Stop sharing" ends the track.
  state.screen.getVideoTracks().forEach((t) => { t.onended = () => stopScreenShare(); });
  tile(state.me + SCREEN).querySelector('video').srcObject = state.screen;
  setScreenButton(true);
  await negotiate(() => publish('screen'));
  sendMedia().catch(() => {});
  renderPeople();
}

async function stopScreenShare() {
  if (!state.screen) return;
  state.screen.getTracks().forEach((t) => t.stop());
  state.screen = null;
  state.screenPublisher?.close();
  state.screenPublisher = null;
  removeTile(state.me + SCREEN);
  setScreenButton(false);
  await request({ type: 'unpublish', source: 'screen' }).catch(() => {});
  sendMedia().catch(() => {});
}

function setScreenButton(sharing) {
  $('toggle-screen').textContent = sharing ? 'Stop sharing' : 'Share screen';
  $('toggle-screen').setAttribute('aria-pressed', String(sharing));
}

async function subscribe() {
  state.subscriber?.close();
  const pc = newPeer('subscribe');
  state.subscriber = pc;
  pc.ontrack = (e) => {
    const stream = e.streams[0];
    if (!stream) return;
    attach(stream.id, e.track);
    // The publisher stopped (a screen share ended): the node renegotiated it away.
    stream.onremovetrack = (ev) => detach(stream.id, ev.track);
  };
  const reply = await request({ type: 'subscribe' });
  await answerSubscription(reply.sdp);
}

async function answerSubscription(sdp) {
  const pc = state.subscriber;
  await pc.setRemoteDescription({ type: 'offer', sdp });
  await pc.setLocalDescription(await pc.createAnswer());
  await gathered(pc);
  await request({ type: 'subscribe_answer', sdp: pc.localDescription.sdp });
}

// ---------- tiles and people ----------

function tileName(id) {
  const owner = ownerOf(id);
  const name = owner === state.me ? 'You' : state.people.get(owner)?.display_name ?? '';
  return id.endsWith(SCREEN) ? `${name} (screen)` : name;
}

function tile(id) {
  let t = state.tiles.get(id);
  if (!t) {
    t = document.createElement('div');
    t.className = id.endsWith(SCREEN) ? 'tile screen' : 'tile';
    t.dataset.participant = ownerOf(id);
    t.dataset.tile = id;
    const video = document.createElement('video');
    video.autoplay = true;
    video.playsInline = true;
    if (ownerOf(id) === state.me) video.muted = true;
    const label = document.createElement('span');
    label.className = 'name';
    t.append(video, label);
    $('grid').append(t);
    state.tiles.set(id, t);
  }
  t.querySelector('.name').textContent = tileName(id);
  t.classList.toggle('speaking', ownerOf(id) === state.speaker && !id.endsWith(SCREEN));
  return t;
}

function removeTile(id) {
  state.tiles.get(id)?.remove();
  state.tiles.delete(id);
}

function attach(tileId, track) {
  const t = tile(tileId);
  const video = t.querySelector('video');
  const stream = video.srcObject || new MediaStream();
  stream.getTracks().filter((x) => x.kind === track.kind).forEach((x) => stream.removeTrack(x));
  stream.addTrack(track);
  video.srcObject = stream;
  track.onended = () => stream.removeTrack(track);
}

function detach(tileId, track) {
  const t = state.tiles.get(tileId);
  const stream = t?.querySelector('video').srcObject;
  if (!stream) return;
  stream.getTracks().filter((x) => x.id === track.id).forEach((x) => stream.removeTrack(x));
  if (tileId.endsWith(SCREEN) && stream.getTracks().length === 0) removeTile(tileId);
}

function showSpeaker(participant) {
  state.speaker = participant;
  renderPeople();
}

function renderPeople() {
  const list = $('people-list');
  list.replaceChildren(...[...state.people.values()].map((p) => {
    const li = document.createElement('li');
    const flags = [p.role === 'moderator' ? 'moderator' : '', p.id === state.speaker ? 'speaking' : '',
      p.media.audio_muted ? 'muted' : '', p.media.video_muted ? 'camera off' : '',
      p.media.screen_sharing ? 'sharing screen' : '', p.away ? 'reconnecting' : ''].filter(Boolean).join(', ');
    li.textContent = `${p.display_name}${p.id === state.me ? ' (you)' : ''}${flags ? ` — ${flags}` : ''}`;
    if (state.role === 'moderator' && p.id !== state.me) {
      for (const [label, body] of [['Mute', { type: 'mute', participant: p.id, kind: 'audio' }],
        ['Make moderator', { type: 'grant_moderator', participant: p.id }],
        ['Remove', { type: 'remove', participant: p.id }]]) {
        const b = document.createElement('button');
        b.textContent = label;
        b.setAttribute('aria-label', `${label} ${p.display_name}`);
        b.onclick = () => request(body).catch((e) => notice(e.message));
        li.append(' ', b);
      }
    }
    return li;
  }));
  renderLobby();
  for (const id of ['lock', 'mute-all', 'end-meeting']) $(id).hidden = state.role !== 'moderator';
  $('lock').textContent = state.locked ? 'Unlock room' : 'Lock room';
  for (const id of state.tiles.keys()) tile(id); // names and the speaker's outline
}

// Those knocking on the lobby, with a way to let them in or turn them away (moderators).
function renderLobby() {
  $('lobby').hidden = state.role !== 'moderator' || state.lobby.size === 0;
  $('lobby-list').replaceChildren(...[...state.lobby.entries()].map(([id, name]) => {
    const li = document.createElement('li');
    li.textContent = name;
    for (const [label, type] of [['Admit', 'admit'], ['Deny', 'deny']]) {
      const b = document.createElement('button');
      b.textContent = label;
      b.setAttribute('aria-label', `${label} ${name}`);
      b.onclick = () => request({ type, participant: id }).catch((e) => notice(e.message));
      li.append(' ', b);
    }
    return li;
  }));
}

function onEvent(ev) {
  const p = state.people.get(ev.participant);
  switch (ev.type) {
    case 'participant_joined': state.people.set(ev.participant.id, ev.participant); break;
    case 'participant_left':
      state.people.delete(ev.participant);
      removeTile(ev.participant);
      removeTile(ev.participant + SCREEN);
      if (ev.participant === state.me) {
        teardown(ev.reason === 'removed' ? 'A moderator removed you from the meeting.'
          : ev.reason === 'meeting_ended' ? 'The meeting has ended.' : 'You left the meeting.');
      }
      break;
    case 'participant_away': if (p) p.away = true; break;
    case 'participant_rejoined': if (p) p.away = false; break;
    case 'media_state_changed': if (p) p.media = ev.media; break;
    case 'muted_by_moderator':
      if (p) p.media[ev.kind === 'audio' ? 'audio_muted' : 'video_muted'] = true;
      if (ev.participant === state.me) setMic(true, false);
      break;
    case 'role_changed':
      if (p) p.role = ev.role;
      if (ev.participant === state.me) state.role = ev.role;
      break;
    case 'participant_knocking':
      state.lobby.set(ev.participant, ev.display_name);
      notice(`${ev.display_name} is waiting to be let in.`);
      if ($('people').hidden) toggle('people', 'toggle-people');
      break;
    case 'knock_ended': state.lobby.delete(ev.participant); break;
    case 'room_locked': state.locked = true; break;
    case 'room_unlocked': state.locked = false; break;
    default: break;
  }
  renderPeople();
}

function addChat(name, text) {
  const li = document.createElement('li');
  const who = document.createElement('strong');
  who.textContent = `${name}: `;
  li.append(who, document.createTextNode(text));
  $('messages').append(li);
}

// ---------- controls ----------

function sendMedia() {
  return request({ type: 'media', audio_muted: state.micMuted, video_muted: state.cameraOff, screen_sharing: !!state.screen });
}

function setMic(muted, tell = true) {
  state.micMuted = muted;
  state.local?.getAudioTracks().forEach((t) => { t.enabled = !muted; });
  $('toggle-mic').textContent = muted ? 'Unmute' : 'Mute';
  $('toggle-mic').setAttribute('aria-pressed', String(muted));
  if (tell) sendMedia().catch(() => {});
}

function setCamera(off) {
  state.cameraOff = off;
  state.local?.getVideoTracks().forEach((t) => { t.enabled = !off; });
  $('toggle-camera').textContent = off ? 'Start camera' : 'Stop camera';
  $('toggle-camera').setAttribute('aria-pressed', String(off));
  sendMedia().catch(() => {});
}

function toggle(panel, button) {
  $(panel).hidden = !$(panel).hidden;
  $(button).setAttribute('aria-expanded', String(!$(panel).hidden));
}

// ---------- joining ----------

const refusals = {
  password_required: 'This meeting is locked. Enter its password.',
  wrong_password: 'That password is not right.',
  room_full: 'This meeting is full.',
  too_many_attempts: 'Too many wrong passwords. Wait a minute, then try again.',
  invalid_display_name: 'Please enter a name (up to 64 characters).',
  login_required: 'This site needs you to log in first; guests may not join.',
  denied: 'A moderator did not let you in.',
  meeting_ended: 'The meeting ended before you were let in.',
  invalid_token: 'The link you followed is not valid for this meeting.',
  token_expired: 'The link you followed has expired. Ask for a new one.',
  token_wrong_room: 'The link you followed is for another meeting.',
};

// Waiting for the host, or in the lobby, until a `joined` or `join_refused` push.
function showWaiting(reason) {
  state.waitingFor = reason;
  $('prejoin').hidden = true;
  $('waiting').hidden = false;
  $('waiting-title').textContent = reason === 'host' ? 'Waiting for the host' : 'Waiting to be let in';
  $('waiting-text').textContent = reason === 'host'
    ? 'The meeting has not started yet. You will join automatically when the host arrives.'
    : 'A moderator has been told you are here and will let you in.';
}

// Ends our part in the meeting: connections closed; camera, microphone and screen off.
function teardown(message) {
  state.leaving = true;
  for (const pc of [state.publisher, state.screenPublisher, state.subscriber]) pc?.close();
  for (const stream of [state.local, state.screen]) stream?.getTracks().forEach((t) => t.stop());
  notice(message);
  $('meeting').hidden = true;
}

// Takes a seat over a new signaling connection (waiting first if the rules say so),
// then publishes and subscribes.
async function sit(join) {
  await connect();
  let joined = await request({ type: 'join', room, ...join });
  if (joined.type === 'waiting') {
    showWaiting(joined.reason);
    try {
      joined = await new Promise((resolve, reject) => { state.admission = { resolve, reject }; });
    } finally {
      state.admission = null;
      $('waiting').hidden = true;
      $('prejoin').hidden = false;
    }
  }
  await enter(joined);
}

async function join(name, password) {
  if (!state.local) await openDevices($('camera').value, $('microphone').value);
  const body = {};
  if (state.jwt) body.token = state.jwt;
  else if (!state.site.user) body.name = name;
  if (password) body.password = password;
  await sit(body);
}

// How this site lets people in, and who is logged in: the prejoin shows a login
// form or an OpenID button where a login is needed, and whether guests may join.
async function showAccess() {
  try {
    const res = await fetch('/auth/session', { credentials: 'same-origin' });
    if (res.ok) state.site = await res.json();
  } catch { /* an old node: auth open */ }
  const { auth, guests_allowed: guests, user } = state.site;
  const needsLogin = auth !== 'open' && !user && !state.jwt;
  $('signed-in').hidden = !user;
  if (user) {
    $('signed-in-name').textContent = user.name;
    $('name').value = user.name;
  }
  $('name').disabled = Boolean(user || state.jwt);
  $('login-form').hidden = !(needsLogin && (auth === 'internal' || auth === 'ldap'));
  $('oidc-row').hidden = !(needsLogin && auth === 'oidc');
  $('oidc-login').href = `/auth/oidc/start?next=${encodeURIComponent(location.pathname + location.search)}`;
  $('guest-hint').hidden = !needsLogin;
  $('guest-hint').textContent = guests
    ? 'Or join as a guest: you will be let in once a host has started the meeting.'
    : 'Only people who log in may join meetings on this site.';
  $('join').disabled = needsLogin && !guests;
  $('join').textContent = needsLogin ? 'Join as a guest' : 'Join meeting';
}

async function enter(joined) {
  state.me = joined.participant;
  state.role = joined.role;
  state.iceServers = (joined.ice_servers || []).map((s) => ({ urls: s.urls, username: s.username, credential: s.credential }));
  sessionStorage.setItem(storageKey, JSON.stringify({ token: joined.reconnect_token, name: joined.room.participants.find((p) => p.id === joined.participant)?.display_name }));
  state.people = new Map(joined.room.participants.map((p) => [p.id, p]));
  state.speaker = joined.active_speaker ?? null;
  state.locked = joined.room.locked;
  state.lobby = new Map((joined.lobby || []).map((k) => [k.participant, k.display_name]));
  diagnose(`joined as ${joined.participant}, speaker ${state.speaker}`);
  $('prejoin').hidden = true;
  $('meeting').hidden = false;
  notice('');
  const me = tile(state.me);
  me.querySelector('video').srcObject = state.local;
  renderPeople();
  await negotiate(() => publish('camera'));
  if (state.screen) await negotiate(() => publish('screen'));
  await negotiate(subscribe);
}

// Takes the seat back after a dropped connection, as the same participant while the
// node still holds it. If the node that held it is gone (the platform started a new
// one after a crash), the seat is gone with it: join afresh under the same name.
// While the node restarts its site answers 503, so keep trying for a minute.
async function rejoin() {
  const saved = JSON.parse(sessionStorage.getItem(storageKey) || 'null');
  if (!saved) throw new Error('no seat to take back');
  const deadline = Date.now() + 60000;
  for (let delay = 500; ; delay = Math.min(delay * 2, 4000)) {
    try {
      try {
        return await sit({ name: saved.name || 'Guest', reconnect_token: saved.token });
      } catch (e) {
        // Only a connection that broke off (1006: no closing handshake, as when the node
        // died) means the seat may be on a node that is gone; a node that closed the
        // socket itself (the meeting ended, we were removed) meant it.
        if (e.code !== 'reconnect_refused' || state.lastCloseCode !== 1006) throw e;
        clearRoom();
        const body = {};
        if (state.jwt) body.token = state.jwt;
        else if (!state.site?.user) body.name = saved.name || 'Guest';
        return await sit(body);
      }
    } catch (e) {
      const retryable = !e.code || ['connection_lost', 'try_again_later'].includes(e.code);
      if (Date.now() > deadline || !retryable) throw e;
      state.ws?.close();
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

// Forgets the room as a node that is gone knew it: its people and their tiles.
function clearRoom() {
  for (const id of [...state.tiles.keys()]) removeTile(id);
  state.people = new Map();
  state.lobby = new Map();
  state.speaker = null;
}

async function start() {
  $('room-name').textContent = room;
  document.title = `${room} — Confer`;
  $('name').value = params.get('name') || localStorage.getItem('confer:name') || '';
  // The page answers at once; the camera and microphone open after (a permission
  // prompt must not hold back the login form or the join button).
  await showAccess();
  $('login-form').onsubmit = async (e) => {
    e.preventDefault();
    const res = await fetch('/auth/login', {
      method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: $('login-username').value.trim(), password: $('login-password').value }),
    });
    const body = await res.json().catch(() => ({}));
    $('login-password').value = '';
    if (!res.ok) return notice(body.error?.message || 'The login did not succeed.');
    notice('');
    await showAccess();
  };
  $('logout').onclick = async () => {
    await fetch('/auth/logout', { method: 'POST', credentials: 'same-origin' });
    state.site.user = null;
    $('name').value = localStorage.getItem('confer:name') || '';
    await showAccess();
  };
  $('stop-waiting').onclick = () => {
    state.leaving = true;
    request({ type: 'leave' }).catch(() => {});
    state.admission?.reject(Object.assign(new Error('You left before being let in.'), { code: 'left' }));
  };
  $('camera').onchange = () => openDevices($('camera').value, $('microphone').value);
  $('microphone').onchange = () => openDevices($('camera').value, $('microphone').value);
  $('join-form').onsubmit = async (e) => {
    e.preventDefault();
    const name = $('name').value.trim();
    // A guest's name is remembered; a logged-in person's comes from their login.
    if (!state.site.user && !state.jwt) localStorage.setItem('confer:name', name);
    try {
      await join(name, $('password').value);
    } catch (err) {
      state.ws?.close();
      if (err.code === 'password_required' || err.code === 'wrong_password') $('password-row').hidden = false;
      notice(refusals[err.code] || err.message);
    }
  };
  $('toggle-mic').onclick = () => setMic(!state.micMuted);
  $('toggle-camera').onclick = () => setCamera(!state.cameraOff);
  $('toggle-screen').hidden = !navigator.mediaDevices?.getDisplayMedia;
  $('toggle-screen').onclick = () => (state.screen ? stopScreenShare() : startScreenShare());
  $('toggle-chat').onclick = () => toggle('chat', 'toggle-chat');
  $('toggle-people').onclick = () => toggle('people', 'toggle-people');
  $('lock').onclick = () => {
    if (state.locked) return request({ type: 'unlock' }).catch((e) => notice(e.message));
    const password = prompt('Password for this meeting');
    if (password) request({ type: 'lock', password }).catch((e) => notice(e.message));
  };
  $('mute-all').onclick = () => request({ type: 'mute_all', kind: 'audio' }).catch((e) => notice(e.message));
  $('end-meeting').onclick = () => {
    if (confirm('End the meeting for everyone?')) request({ type: 'end_meeting' }).catch((e) => notice(e.message));
  };
  $('leave').onclick = async () => {
    state.leaving = true;
    await request({ type: 'leave' }).catch(() => {});
    teardown('You left the meeting.');
  };
  $('chat-form').onsubmit = (e) => {
    e.preventDefault();
    const text = $('chat-text').value.trim();
    if (!text) return;
    request({ type: 'chat', text }).catch((err) => notice(err.message));
    $('chat-text').value = '';
  };
  try {
    await openDevices();
    await listDevices();
  } catch (e) {
    notice(`Camera or microphone unavailable: ${e.message}`);
  }
  if (params.get('prejoin') === '0' && ($('name').value || state.jwt)) $('join-form').requestSubmit();
}

// For tests and diagnostics: what each remote participant's media looks like here.
window.confer = {
  state,
  // The candidate type our side of each connection's selected pair uses ('host', 'relay', …).
  async transports() {
    const out = {};
    for (const [name, pc] of [['publish', state.publisher], ['subscribe', state.subscriber]]) {
      if (!pc) continue;
      const report = await pc.getStats();
      let pair;
      report.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pair = report.get(s.selectedCandidatePairId); });
      const local = pair && report.get(pair.localCandidateId);
      out[name] = local ? local.candidateType : null;
    }
    return out;
  },
  async stats() {
    const out = {};
    if (!state.subscriber) return out;
    const report = await state.subscriber.getStats();
    const trackOfMid = new Map(state.subscriber.getTransceivers().map((tr) => [tr.mid, tr.receiver.track.id]));
    report.forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      const trackId = s.trackIdentifier || trackOfMid.get(s.mid);
      const tileId = [...state.tiles.entries()].find(([, t]) =>
        t.querySelector('video').srcObject?.getTracks().some((x) => x.id === trackId))?.[0];
      if (!tileId) return; // a track that was removed (a screen share that ended)
      out[tileId] = out[tileId] || {};
      out[tileId][s.kind] = { packetsReceived: s.packetsReceived || 0, framesDecoded: s.framesDecoded || 0 };
    });
    return out;
  },
};

start();
