// `#/profile`, for every role: who you are (name, email, role), your picture (upload,
// replace, remove) and the phone number and bio others see.
import { useApolloClient, useMutation, useQuery } from "@apollo/client/react";
import { useId, useRef, useState } from "react";
import { Field, failureMessage, problemsOf } from "../forms.jsx";
import { Avatar, Card, PageHeader, QueryState } from "../ui.jsx";
import { MY_PROFILE, REMOVE_PROFILE_PICTURE, UPDATE_MY_PROFILE } from "./operations.js";
import { uploadProfilePicture } from "./upload.js";

export function Profile() {
  const result = useQuery(MY_PROFILE, { fetchPolicy: "cache-and-network" });
  return (
    <section>
      <PageHeader title="Profile" />
      <QueryState result={result} loading="Loading your profile">
        {({ me }) => (
          <>
            <Card title="About you">
              <div className="person">
                <Avatar user={me} size="large" />
                <dl>
                  <dt>Name</dt>
                  <dd>{me.fullName}</dd>
                  <dt>Email</dt>
                  <dd>{me.email}</dd>
                  <dt>Role</dt>
                  <dd>{me.role.toLowerCase()}</dd>
                  {me.specialty && (
                    <>
                      <dt>Specialty</dt>
                      <dd>{me.specialty}</dd>
                    </>
                  )}
                </dl>
              </div>
            </Card>
            <PictureCard me={me} />
            <DetailsCard me={me} />
          </>
        )}
      </QueryState>
    </section>
  );
}

/** Upload (or replace) and remove: the cache's `me` changes with the answer. */
function PictureCard({ me }) {
  const client = useApolloClient();
  const input = useRef(null);
  const errorId = useId();
  const [file, setFile] = useState(null);
  const [busy, setBusy] = useState(false);
  const [problems, setProblems] = useState({});
  const [said, setSaid] = useState(null);
  const [remove] = useMutation(REMOVE_PROFILE_PICTURE);

  function showPicture(url) {
    client.cache.modify({
      id: client.cache.identify({ __typename: "User", id: me.id }),
      fields: { profilePictureUrl: () => url },
    });
  }

  async function upload(event) {
    event.preventDefault();
    setProblems({});
    setSaid(null);
    setBusy(true);
    try {
      const result = await uploadProfilePicture(file);
      if (result.__typename === "UserPayload") {
        showPicture(result.user.profilePictureUrl);
        setSaid(me.profilePictureUrl ? "Picture replaced." : "Picture uploaded.");
        setFile(null);
        input.current.value = "";
      } else {
        setProblems(problemsOf(result, ["file"]));
      }
    } catch (error) {
      setProblems({ "": error.message });
    } finally {
      setBusy(false);
    }
  }

  async function removePicture() {
    setProblems({});
    setSaid(null);
    setBusy(true);
    try {
      const { data } = await remove();
      showPicture(data.removeProfilePicture.user.profilePictureUrl);
      setSaid("Picture removed.");
    } catch (error) {
      setProblems({ "": failureMessage(error) });
    } finally {
      setBusy(false);
    }
  }

  return (
    <Card title="Picture">
      <form className="picture-form" onSubmit={upload}>
        <label>
          {me.profilePictureUrl ? "New picture" : "Picture"} (JPEG, PNG or WebP)
          <input
            ref={input}
            type="file"
            accept="image/jpeg,image/png,image/webp"
            onChange={(e) => setFile(e.target.files[0] ?? null)}
            aria-invalid={problems.file ? true : undefined}
            aria-describedby={problems.file ? errorId : undefined}
          />
          {problems.file && (
            <span role="alert" id={errorId} className="field-error">
              {problems.file}
            </span>
          )}
        </label>
        {problems[""] && (
          <p role="alert" className="notice error">
            {problems[""]}
          </p>
        )}
        {said && (
          <p role="status" className="notice ok">
            {said}
          </p>
        )}
        <div className="actions">
          <button type="submit" className="primary" disabled={!file || busy}>
            {me.profilePictureUrl ? "Replace picture" : "Upload picture"}
          </button>
          {me.profilePictureUrl && (
            <button type="button" className="danger" disabled={busy} onClick={removePicture}>
              Remove picture
            </button>
          )}
        </div>
      </form>
    </Card>
  );
}

/** Phone number and bio (updateMyProfile); a refused number says why under its field. */
function DetailsCard({ me }) {
  const [phoneNumber, setPhoneNumber] = useState(me.phoneNumber ?? "");
  const [bio, setBio] = useState(me.bio ?? "");
  const [problems, setProblems] = useState({});
  const [saved, setSaved] = useState(false);
  const [update, { loading }] = useMutation(UPDATE_MY_PROFILE);
  const bioErrorId = useId();

  async function submit(event) {
    event.preventDefault();
    setProblems({});
    setSaved(false);
    try {
      const { data } = await update({ variables: { input: { phoneNumber, bio } } });
      const result = data.updateMyProfile;
      if (result.__typename === "UserPayload") {
        setPhoneNumber(result.user.phoneNumber ?? ""); // as the API keeps it: +E.164
        setSaved(true);
      } else setProblems(problemsOf(result, ["phoneNumber", "bio"]));
    } catch (error) {
      setProblems({ "": failureMessage(error) });
    }
  }

  return (
    <Card title="Contact and bio">
      <form onSubmit={submit}>
        <Field
          label="Phone number (international form, like +14155550123)"
          type="tel"
          autoComplete="tel"
          value={phoneNumber}
          onChange={(e) => setPhoneNumber(e.target.value)}
          error={problems.phoneNumber}
        />
        <label>
          Bio
          <textarea
            value={bio}
            onChange={(e) => setBio(e.target.value)}
            aria-invalid={problems.bio ? true : undefined}
            aria-describedby={problems.bio ? bioErrorId : undefined}
          />
          {problems.bio && (
            <span role="alert" id={bioErrorId} className="field-error">
              {problems.bio}
            </span>
          )}
        </label>
        {problems[""] && (
          <p role="alert" className="notice error">
            {problems[""]}
          </p>
        )}
        {saved && (
          <p role="status" className="notice ok">
            Saved.
          </p>
        )}
        <div className="actions">
          <button type="submit" className="primary" disabled={loading}>
            Save
          </button>
        </div>
      </form>
    </Card>
  );
}
