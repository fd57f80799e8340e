// `#/record-access` (patients): who else read or changed my records, what and when,
// newest first, 20 at a time ("Load more").
import { useQuery } from "@apollo/client/react";
import { useState } from "react";
import { failureMessage } from "../forms.jsx";
import { Card, PageHeader, QueryState } from "../ui.jsx";
import { MY_RECORD_ACCESS } from "./operations.js";
import { slotLabel } from "./time.js";

const ENTITIES = {
  APPOINTMENT: "an appointment",
  CHAT_MESSAGE: "a chat message",
  CONSULTATION: "visit notes",
  CONVERSATION: "a conversation",
  NOTIFICATION: "a notification",
  OPERATION: "your data",
  PATIENT_PROFILE: "your profile",
  PRIVATE_NOTES: "private notes",
  USER: "your account",
  VIDEO_CALL: "a video visit",
};
const ACTIONS = { READ: "read", CREATE: "created", UPDATE: "changed", DENIED: "was refused access to" };

export function RecordAccess() {
  const result = useQuery(MY_RECORD_ACCESS, { fetchPolicy: "cache-and-network" });
  const [more, setMore] = useState({ loading: false, error: null });
  const page = result.data?.myRecordAccess;

  async function loadMore() {
    setMore({ loading: true, error: null });
    try {
      await result.fetchMore({
        variables: { after: page.pageInfo.endCursor },
        updateQuery: (previous, { fetchMoreResult }) => ({
          myRecordAccess: {
            ...fetchMoreResult.myRecordAccess,
            nodes: [...previous.myRecordAccess.nodes, ...fetchMoreResult.myRecordAccess.nodes],
          },
        }),
      });
      setMore({ loading: false, error: null });
    } catch (error) {
      setMore({ loading: false, error: failureMessage(error) });
    }
  }

  return (
    <section>
      <PageHeader title="Record access" />
      <p className="hint">Everyone else who read or changed your records, newest first.</p>
      <QueryState
        result={result}
        loading="Loading who read your records"
        empty="Nobody else has opened your records yet."
        isEmpty={(data) => data.myRecordAccess.nodes.length === 0}
      >
        {(data) => (
          <Card>
            <ul className="rows" aria-label="Record access">
              {data.myRecordAccess.nodes.map((event) => (
                <li key={event.id}>
                  <div className="grow">
                    <strong>{event.actorName ?? "Someone not signed in"}</strong>
                    {event.actorRole && <span className="hint"> ({event.actorRole.toLowerCase()})</span>}{" "}
                    {ACTIONS[event.action] ?? event.action.toLowerCase()} {ENTITIES[event.entity] ?? event.entity}
                    {event.fields.length > 0 && <div className="hint">Fields: {event.fields.join(", ")}</div>}
                  </div>
                  <time dateTime={event.createdAt}>{slotLabel(event.createdAt)}</time>
                  {!event.allowed && <span className="status cancelled">refused</span>}
                </li>
              ))}
            </ul>
            {more.error && (
              <p role="alert" className="notice error">
                {more.error}
              </p>
            )}
            {data.myRecordAccess.pageInfo.hasNextPage && (
              <div className="actions">
                <button type="button" onClick={loadMore} disabled={more.loading}>
                  {more.loading ? "Loading…" : "Load more"}
                </button>
              </div>
            )}
          </Card>
        )}
      </QueryState>
    </section>
  );
}
