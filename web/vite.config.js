// `make web` serves the app on http://localhost:5173 (WEB_PORT) and proxies /graphql (HTTP and
// WebSocket) and /media to the API, so the page and the API share one origin: no CORS
// setup, and the WebSocket origin check sees a same-origin page.
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

const api = process.env.API_URL ?? "http://127.0.0.1:8000";
const port = Number(process.env.WEB_PORT ?? 5173);
const proxy = {
  "/graphql": { target: api, ws: true },
  "/media": { target: api },
};

export default defineConfig({
  plugins: [react()],
  server: { port, strictPort: true, proxy },
  preview: { port: 4173, strictPort: true, proxy },
});
