/** The verification worker entry's URL (web/vite.config.ts verifyWorkerEntry). */
declare module 'virtual:verify-worker-url' {
  const url: string;
  export default url;
}
