/** A gateway started as a child process (`npm start`'s command line): its ready banner. */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';

/** Resolves with stdout up to the banner's last line; rejects if the process exits first. */
export function readyBanner(child: ChildProcessWithoutNullStreams): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (d: Buffer) => {
      text += d.toString();
      if (/Ed25519 verify/.test(text)) resolve(text);
    });
    child.on('exit', (c) => reject(new Error(`exited ${c}: ${text}`)));
  });
}
