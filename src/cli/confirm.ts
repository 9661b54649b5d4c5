// A yes/no question on the terminal, as Celery's purge asks it (anything but
// "yes" or "y" is no; end of input is no).
import { createInterface } from "node:readline/promises";

export async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = await Promise.race([rl.question(`${question} (yes/NO)? `), new Promise<string>((resolve) => rl.once("close", () => resolve("")))]);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}
