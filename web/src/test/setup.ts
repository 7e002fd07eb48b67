import { afterEach, beforeEach, vi } from "vitest";
import { cleanup } from "@testing-library/react";
import { setClock } from "../clock";

beforeEach(() => {
  sessionStorage.clear();
  performance.clearMarks();
  setClock(null);
  window.history.replaceState(null, "", "/app/");
});

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});
