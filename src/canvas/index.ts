// The canvas: every signature kind (the app registers them for
// Signature.fromDict: kinds.ts).
export { Signature, type AnySignature, type FreezeOptions, type ResultHandle, type SignatureSender } from "./signature.js";
export { Chain, chain } from "./chain.js";
export { Group, group } from "./group.js";
export { Chord, chord, chordSize } from "./chord.js";
export { MapSignature, type MapKind } from "./map.js";
export { Chunks, chunks } from "./chunks.js";
export { GroupResult, type GroupMember } from "./group-result.js";
