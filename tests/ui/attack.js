// Every event of a gradio app, tried the ways a page can reach it: a POST to /run/predict and /api/<name>
// (a body with no content type, so the browser sends it without asking), the same with forged request headers,
// and the queue (gradio 3's websocket, gradio 4's POST + event stream).  Returns what each try got back.
async ({base, calls, v4, forged}) => {
  const wsBase = (base || location.origin + "/").replace(/^http/, "ws");
  const newHash = () => Math.random().toString(36).slice(2);
  const post = async (path, body) => {
    try {
      const r = await fetch(base + path, {method: "POST", body: new Blob([JSON.stringify(body)])});
      return {path, status: r.status, text: await r.text()};
    } catch (e) {
      return {path, unreadable: String(e)};
    }
  };
  const finish = (resolve, close, result) => { try { close(); } catch (e) {} resolve(result); };
  const queue3 = (call) => new Promise((resolve) => {
    const hash = newHash(), msgs = [];
    const ws = new WebSocket(wsBase + "queue/join");
    const done = (x) => finish(resolve, () => ws.close(), {path: "queue", msgs, ...x});
    ws.onmessage = (ev) => {
      const m = JSON.parse(ev.data);
      msgs.push(m);
      if (m.msg === "send_hash") ws.send(JSON.stringify({fn_index: call.fn_index, session_hash: hash}));
      else if (m.msg === "send_data") ws.send(JSON.stringify({data: call.data, event_data: null,
                                                              fn_index: call.fn_index, session_hash: hash}));
      else if (m.msg === "process_completed") done({output: m.output, success: m.success});
    };
    ws.onerror = () => done({unreadable: "websocket error"});
    setTimeout(() => done({timeout: true}), 30000);
  });
  const queue4 = async (call) => {
    const hash = newHash();
    const join = await post("queue/join", {data: call.data, event_data: null, fn_index: call.fn_index,
                                           trigger_id: null, session_hash: hash});
    return new Promise((resolve) => {
      const msgs = [];
      const stream = new EventSource(base + "queue/data?session_hash=" + hash);
      const done = (x) => finish(resolve, () => stream.close(), {path: "queue", join, msgs, ...x});
      stream.onmessage = (ev) => {
        const m = JSON.parse(ev.data);
        msgs.push(m);
        if (m.msg === "process_completed") done({output: m.output, success: m.success});
      };
      stream.onerror = () => done({unreadable: "event stream error"});
      setTimeout(() => done({timeout: true}), 30000);
    });
  };
  const results = [];
  for (const call of calls) {
    const body = {fn_index: call.fn_index, data: call.data, event_data: null, session_hash: newHash()};
    const tries = [post("run/predict", body), post("run/predict", {...body, request: {headers: forged}})];
    if (call.api_name) tries.push(post("api/" + call.api_name, body));
    for (const t of tries) results.push({api_name: call.api_name, ...(await t)});
    results.push({api_name: call.api_name, ...(await (v4 ? queue4(call) : queue3(call)))});
  }
  return results;
}
