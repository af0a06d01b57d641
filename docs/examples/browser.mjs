// notifier from a web page — only with `cors: {origins: [...]}` in channels.yaml and a token
// bound to your site with only the events:write scope: every visitor can read this token.
export async function notifyFromPage(notifierUrl, pageToken, event) {
  const response = await fetch(`${notifierUrl}/v1/events`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${pageToken}` },
    body: JSON.stringify({ ...event, page: { url: location.href, title: document.title } }),
  });
  const answer = await response.json();
  if (response.status !== 202) throw new Error(`notifier: HTTP ${response.status}: ${answer.error}`);
  return answer;
}
