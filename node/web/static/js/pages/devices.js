// Which meters belong to an industry. The industry answer lists them when
// the node includes "devices" in it; otherwise they are found in the
// readings of recent data blocks (each device's owner comes from
// /v1/devices/{key}), which finds every meter that reported lately.
import { get, device } from '../api.js';

const SCAN_BLOCKS = 120;
const BATCH = 12;
const owners = new Map(); // device key -> owner address
let scannedTo = 0;
let scanning = null;

async function scan(signal) {
  const st = await get('/v1/status', { signal });
  const top = st.lanes && st.lanes.data ? st.lanes.data.height : 0;
  const from = Math.max(scannedTo + 1, top - SCAN_BLOCKS + 1, 1);
  const found = new Set();
  for (let hi = top; hi >= from; hi -= BATCH) {
    const hs = [];
    for (let x = hi; x > hi - BATCH && x >= from; x--) hs.push(x);
    const blocks = await Promise.all(hs.map((x) => get(`/v1/blocks/data/${x}`, { optional: true, signal })));
    for (const b of blocks) for (const r of (b && b.readings) || []) if (!owners.has(r.device)) found.add(r.device);
  }
  scannedTo = Math.max(scannedTo, top);
  await Promise.all([...found].map(async (k) => {
    const d = await device(k);
    if (d) owners.set(k, d.owner);
  }));
}

/** devicesOf returns the device keys of the industry at address. */
export async function devicesOf(ind, signal) {
  if (Array.isArray(ind.devices)) return ind.devices.map((d) => (typeof d === 'string' ? d : d.key)).filter(Boolean);
  if (!scanning) scanning = scan(signal).finally(() => { scanning = null; });
  await scanning;
  return [...owners].filter(([, owner]) => owner === ind.address).map(([k]) => k).sort();
}

/** learnDevice records a device seen in a new block (its owner looked up). */
export async function learnDevice(key) {
  if (owners.has(key)) return owners.get(key);
  const d = await device(key);
  if (d) owners.set(key, d.owner);
  return d ? d.owner : null;
}
