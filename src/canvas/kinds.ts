// The composite signature kinds Signature.fromDict rebuilds from a message's
// `subtask_type`, registered in one place by the app that will read them
// (not as a side effect of whichever module happens to be imported first).
import { Chain } from "./chain.js";
import { Chord } from "./chord.js";
import { Chunks } from "./chunks.js";
import { Group } from "./group.js";
import { MapSignature } from "./map.js";
import { Signature } from "./signature.js";

export function registerSignatureKinds(): void {
  Signature.registerType("chain", Chain.fromChainDict);
  Signature.registerType("chord", Chord.fromChordDict);
  Signature.registerType("group", Group.fromGroupDict);
  Signature.registerType("xmap", MapSignature.fromMapDict("xmap"));
  Signature.registerType("xstarmap", MapSignature.fromMapDict("xstarmap"));
  Signature.registerType("chunks", Chunks.fromChunksDict);
}
