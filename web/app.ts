/** The page's state and actions, shared by the views. Views render from the state; actions change it and re-render. */
import type { Lang, MessageKey } from './i18n.js';
import type { TrustState } from './storage.js';
import type { KeptCheckpoint, Outcome } from './verification.js';
import type { ExploreState } from './explore-view.js';

export type Notice = { key: MessageKey; params?: Record<string, string | number> };
export type Source = { file: string } | { entry: number };

export interface State {
  lang: Lang;
  tab: 'verify' | 'explore';
  trust: TrustState;
  trustError?: { code: string; message: string };
  busy: boolean;
  notice?: Notice;
  result?: { outcome: Outcome; source: Source };
  entryText: string;
  kept: KeptCheckpoint | null;
  keptError?: { code: string; message: string };
  offline: boolean;
  explore: ExploreState;
}

export interface App {
  state: State;
  t(key: MessageKey, params?: Record<string, string | number>): string;
  render(): void;
  setLang(lang: Lang): void;
  setTab(tab: State['tab']): void;
  verifyEntry(index: number): Promise<void>;
  verifyEntryText(text: string): Promise<void>;
  /** A dropped or chosen file: read, then verified (one that cannot be read is said so). */
  verifyFile(file: File): Promise<void>;
  verifyBytes(bytes: Uint8Array, source: Source): Promise<void>;
  showNotice(notice: Notice): void;
  loadTrustFile(name: string, text: string): void;
  useServerTrust(): Promise<void>;
  keep(note: string): void;
  loadKeptFile(text: string): void;
  forgetKept(): void;
}
