// edge: the results view (one row per video, a timeline per class, thumbnails, play a clip), shared by the
// page on `edge serve` (which talks to the /v1.2 API) and by `edge report` files (data embedded, no server).
"use strict";
(() => {
  const OPTION_NAMES = { visual: "visual", conversation: "conversation", text_in_video: "text in video" };
  const byId = (id) => document.getElementById(id);

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (name === "text") node.textContent = value;
      else if (name === "style") Object.assign(node.style, value);
      else if (value !== false && value != null) node.setAttribute(name, value === true ? "" : value);
    }
    node.append(...children.filter((c) => c != null));
    return node;
  }

  const count = (n, what) => `${n} ${what}${n === 1 ? "" : "s"}`;
  const clock = (s) => `${Math.floor(s / 60)}:${(s % 60).toFixed(1).padStart(4, "0")}`;

  function status(text, isError = false) {
    const node = byId("status");
    node.textContent = text;
    node.classList.toggle("error", isError);
  }

  // --- the shared view -----------------------------------------------------------------------------------
  // result: {data: [v1.2 video entries], videos: {id: {filename, duration}}, total_results}
  // play(row, video, clip): what a click on a clip does (the page plays it, a report shows its picture)
  function renderResults(result, play) {
    const target = byId("videos");
    target.replaceChildren();
    byId("legend").hidden = result.data.length === 0;
    for (const video of result.data) target.append(videoRow(video, result.videos[video.video_id] || {}, play));
  }

  function videoRow(video, meta, play) {
    const clips = video.classes.flatMap((c) => c.clips || []);
    const duration = meta.duration || Math.max(1, ...clips.map((c) => c.end));
    const titleId = `v-${video.video_id}`;
    const row = el("article", { class: "video", "aria-labelledby": titleId, "data-video-id": video.video_id });
    row.append(el("h3", { id: titleId, text: meta.filename || video.video_id }),
      el("p", { class: "meta", text: `${duration.toFixed(1)} s · ${video.video_id}` }));
    const timelines = el("div", { class: "timelines" });
    for (const cls of video.classes) timelines.append(classRow(row, video, cls, duration, play));
    row.append(el("div", { class: "body" }, timelines, el("div", { class: "player" })));
    return row;
  }

  function clipLabel(cls, clip) {
    return `${cls.name}: ${OPTION_NAMES[clip.option] || clip.option}, ${clock(clip.start)} to ${clock(clip.end)}, ` +
      `score ${clip.score.toFixed(1)}, prompt “${clip.prompt}”`;
  }

  function classRow(row, video, cls, duration, play) {
    const clips = cls.clips || [];
    const box = el("div", { class: "class", "data-class": cls.name });
    box.append(el("div", { class: "name", text: cls.name },
      el("span", { class: "score", text: `score ${cls.score.toFixed(1)} · ${(100 * cls.duration_ratio).toFixed(0)}% of the video` })));
    const track = el("div", { class: "track", role: "group", "aria-label": `${cls.name}: clips along the video` });
    const thumbs = el("ul", { class: "thumbs", "aria-label": `${cls.name}: clip pictures` });
    for (const clip of clips) {
      const label = clipLabel(cls, clip);
      const bar = el("button", {
        type: "button", class: `bar opt-${clip.option}`, title: label, "aria-label": `Play ${label}`,
        "data-start": clip.start, "data-end": clip.end, "data-score": clip.score,
        style: { left: `${(100 * clip.start) / duration}%`, width: `${(100 * (clip.end - clip.start)) / duration}%` },
      });
      bar.addEventListener("click", () => play(row, video, clip, label));
      track.append(bar);
      if (clip.thumbnail_url) {
        const button = el("button", { type: "button", class: `thumb opt-${clip.option}`, title: label, "aria-label": `Play ${label}` },
          el("img", { src: clip.thumbnail_url, alt: `${cls.name} at ${clock(clip.start)}`, width: 96, height: 54 }),
          el("span", { text: `${clock(clip.start)} · ${clip.score.toFixed(0)}` }));
        button.addEventListener("click", () => play(row, video, clip, label));
        thumbs.append(el("li", {}, button));
      }
    }
    box.append(el("div", {}, track,
      el("div", { class: "axis", "aria-hidden": "true" }, el("span", { text: "0:00" }), el("span", { text: clock(duration) }))));
    if (thumbs.children.length) box.append(thumbs);
    return box;
  }

  // --- a report file: everything embedded ----------------------------------------------------------------
  function showReport(result) {
    status(`${result.data.length} of ${count(result.total_results, "video")} matched.` +
      (result.note ? ` ${result.note}` : ""));
    renderResults(result, (row, video, clip, label) => {
      const figure = el("figure", {}, clip.thumbnail_url ? el("img", { src: clip.thumbnail_url, alt: label }) : null,
        el("figcaption", { text: label }));
      row.querySelector(".player").replaceChildren(figure);
    });
  }

  // --- the page on edge serve ----------------------------------------------------------------------------
  const EXAMPLES = {
    "example: cat and coffee (visual)": { classes: "cat: a cat; kitten\ncoffee: a cup of coffee", options: ["visual"],
      conversation_option: "semantic", threshold: { min_video_score: 75, min_clip_score: 30, min_duration_ratio: 0.05 } },
    "example: sale sign (text in video, exact)": { classes: "sale: sale", options: ["text_in_video"],
      conversation_option: "exact_match", threshold: { min_video_score: 75, min_clip_score: 30, min_duration_ratio: 0.05 } },
    "example: weather forecast (conversation)": { classes: "weather: weather forecast", options: ["conversation"],
      conversation_option: "semantic", threshold: { min_video_score: 75, min_clip_score: 50, min_duration_ratio: 0.1 } },
  };
  const SETS_KEY = "edge.sets";

  function apiKey() { return byId("key").value.trim(); }

  function rememberKey() {
    const key = apiKey();
    sessionStorage.setItem("edge.key", key);
    // <img> and <video> cannot send headers: the thumbnail and video routes read the key from this cookie
    document.cookie = `edge_api_key=${encodeURIComponent(key)}; path=/v1.2/; SameSite=Strict`;
  }

  async function api(method, path, body) {
    const headers = { "content-type": "application/json" };
    if (apiKey()) headers["x-api-key"] = apiKey();
    const reply = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
    const payload = await reply.json().catch(() => ({ message: `HTTP ${reply.status}` }));
    if (!reply.ok) throw Object.assign(new Error(payload.message || `HTTP ${reply.status}`), { status: reply.status });
    return payload;
  }

  async function allPages(path) {
    const items = [];
    for (let page = 1; ; page += 1) {
      const reply = await api("GET", `${path}?page=${page}&page_limit=50`);
      items.push(...reply.data);
      if (page >= reply.page_info.total_page) return items;
    }
  }

  let videosOfIndex = {};

  async function loadIndexes() {
    try {
      const indexes = await allPages("/v1.2/indexes");
      const select = byId("index");
      select.replaceChildren(...indexes.map((i) => el("option", { value: i._id, text: `${i.index_name} (${count(i.video_count, "video")})` })));
      if (!indexes.length) status("No index yet: run `edge index FOLDER` first.", true);
      else { status(""); await loadVideos(); }
    } catch (error) {
      status(error.status === 401 ? "This server needs an API key: type it above." : `Cannot list indexes: ${error.message}`, true);
      if (error.status === 401) byId("key").focus();
    }
  }

  async function loadVideos() {
    const indexId = byId("index").value;
    const videos = await allPages(`/v1.2/indexes/${encodeURIComponent(indexId)}/videos`);
    videosOfIndex = Object.fromEntries(videos.map((v) => [v._id, { filename: v.metadata.filename, duration: v.metadata.duration }]));
    byId("video-picks").replaceChildren(...videos.map((v) => el("label", {},
      el("input", { type: "checkbox", name: "video", value: v._id }), ` ${v.metadata.filename}`)));
  }

  function parseClasses(text) {
    return text.split("\n").map((line) => line.trim()).filter(Boolean).map((line) => {
      const at = line.indexOf(":");
      if (at < 1) throw new Error(`A class line needs "name: prompt; prompt", got “${line}”.`);
      return { name: line.slice(0, at).trim(), prompts: line.slice(at + 1).split(";").map((p) => p.trim()).filter(Boolean) };
    });
  }

  function formSet() {
    const number = (id) => Number(byId(id).value);
    return {
      classes: byId("classes").value,
      options: [...document.querySelectorAll("input[name=option]:checked")].map((i) => i.value),
      conversation_option: byId("conversation-option").value,
      threshold: { min_video_score: number("min-video-score"), min_clip_score: number("min-clip-score"),
        min_duration_ratio: number("min-duration-ratio") },
    };
  }

  function applySet(set) {
    // a saved set, or a v1.2 request body (its classes as objects)
    const classes = Array.isArray(set.classes)
      ? set.classes.map((c) => `${c.name}: ${(c.prompts || []).join("; ")}`).join("\n") : set.classes;
    if (classes) byId("classes").value = classes;
    if (set.options) document.querySelectorAll("input[name=option]").forEach((i) => { i.checked = set.options.includes(i.value); });
    if (set.conversation_option) byId("conversation-option").value = set.conversation_option;
    const t = set.threshold || {};
    for (const [name, id] of [["min_video_score", "min-video-score"], ["min_clip_score", "min-clip-score"],
      ["min_duration_ratio", "min-duration-ratio"]]) if (t[name] != null) byId(id).value = t[name];
  }

  function savedSets() { return JSON.parse(localStorage.getItem(SETS_KEY) || "{}"); }

  function listSets() {
    const sets = { ...EXAMPLES, ...savedSets() };
    byId("sets").replaceChildren(...Object.keys(sets).map((name) => el("option", { value: name, text: name })));
    return sets;
  }

  function playInPage(row, video, clip, label) {
    const holder = row.querySelector(".player");
    let player = holder.querySelector("video");
    if (!player) {
      player = el("video", { controls: true, preload: "metadata", "aria-label": `Video ${video.video_id}` });
      player.src = `/v1.2/videos/${encodeURIComponent(video.video_id)}/file`;  // range requests: seeking is cheap
      holder.replaceChildren(el("figure", {}, player, el("figcaption", {})));
    }
    holder.querySelector("figcaption").textContent = label;
    player.dataset.clipEnd = clip.end;
    player.ontimeupdate = () => { if (player.currentTime >= Number(player.dataset.clipEnd)) player.pause(); };
    const start = () => {
      player.currentTime = clip.start;
      player.play().catch((error) => status(`Cannot play: ${error.message}`, true));
    };
    if (player.readyState >= 1) start(); else player.addEventListener("loadedmetadata", start, { once: true });
  }

  async function classify(event) {
    event.preventDefault();
    rememberKey();
    const button = byId("classify");
    try {
      const set = formSet();
      const body = { options: set.options, conversation_option: set.conversation_option, classes: parseClasses(set.classes),
        threshold: set.threshold, include_clips: true, show_detailed_score: true, page_limit: 50 };
      const picked = [...document.querySelectorAll("input[name=video]:checked")].map((i) => i.value);
      if (picked.length) body.video_ids = picked; else body.index_id = byId("index").value;
      button.disabled = true;
      status("Classifying…");
      const started = performance.now();
      let page = await api("POST", picked.length ? "/v1.2/classify" : "/v1.2/classify/bulk", body);
      const data = [...page.data];
      while (page.page_info.next_page_token) {
        page = await api("GET", `/v1.2/classify/${encodeURIComponent(page.page_info.next_page_token)}`);
        data.push(...page.data);
      }
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      const asked = picked.length || Object.keys(videosOfIndex).length;
      status(`${data.length} of ${count(asked, "video")} matched (${seconds} s).`);
      renderResults({ data, videos: videosOfIndex, total_results: data.length }, playInPage);
    } catch (error) {
      status(error.message, true);
    } finally {
      button.disabled = false;
    }
  }

  function startPage() {
    byId("key").value = sessionStorage.getItem("edge.key") || "";
    byId("key").addEventListener("change", () => { rememberKey(); loadIndexes(); });
    byId("index").addEventListener("change", () => loadVideos().catch((e) => status(e.message, true)));
    byId("query").addEventListener("submit", classify);
    let sets = listSets();
    byId("load-set").addEventListener("click", () => applySet(sets[byId("sets").value]));
    byId("save-set").addEventListener("click", () => {
      const name = byId("set-name").value.trim();
      if (!name) { status("Give the set a name first.", true); byId("set-name").focus(); return; }
      localStorage.setItem(SETS_KEY, JSON.stringify({ ...savedSets(), [name]: formSet() }));
      sets = listSets();
      byId("sets").value = name;
      status(`Saved “${name}” in this browser.`);
    });
    byId("set-file").addEventListener("change", async () => {
      const file = byId("set-file").files[0];
      try { applySet(JSON.parse(await file.text())); status(`Loaded ${file.name}.`); }
      catch (error) { status(`${file.name}: ${error.message}`, true); }
    });
    rememberKey();
    loadIndexes();
  }

  const embedded = byId("report-data");
  if (embedded) showReport(JSON.parse(embedded.textContent)); else startPage();
})();
