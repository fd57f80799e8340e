"""Written by hand: on PostgreSQL the chat becomes a table partitioned by month, and the
key that makes sending idempotent moves to a table of its own (aerich wrote that table).

Why the key moves: a partitioned table's unique constraints must hold the partition key,
so UNIQUE (sender_id, client_id) cannot stay on `chat_messages`. `chat_message_keys`
holds it instead, as its unique constraint; the send inserts the key in the message's
transaction, and a retry fails on it exactly as it failed on the old constraint. Keys
are pruned after 30 days (`healthcare.ops.partitions`); the keys of the messages of the
last 30 days are written here, so that a retry across the migration still finds its
message.

As migration 10 did for the audit trail, the existing `chat_messages` is not copied: it
becomes the partition of every row before the cut (the first day of next month, UTC; of
the month after the newest row if one is dated later), `chat_messages_before_partitioning`.
Beside it: one partition per month from the cut on (three; every instance keeps
creating them ahead) and a DEFAULT partition. The primary key becomes (id, created_at)
and UNIQUE (conversation_id, seq) becomes UNIQUE (conversation_id, seq, created_at),
which PostgreSQL enforces per partition. (conversation_id, seq) stays unique all the
same: the send numbers a message by incrementing its conversation's `last_seq` under
that row's lock, so no two messages of a conversation can get one number. Nothing
references chat_messages by foreign key; its own foreign keys (conversation, sender)
move to the parent, where the old table's are attached without a check.

Readers and writers of the chat wait while it runs: the two unique indexes with
created_at, the check that every row is before the cut and the keys of the last 30 days
each read the old table once (seconds at millions of rows). Like every migration here it
is PostgreSQL's: SQLite builds the same two tables from the models, without partitions.

The downgrade converts back, and that one copies every row into a plain table; it fails
if a retry later than the key's 30 days stored a second copy of a message (UNIQUE
(sender_id, client_id) again): delete one of the two first.
"""

from datetime import UTC, datetime

from tortoise import BaseDBAsyncClient

# Date arithmetic and the partitions' names, as the app's daily upkeep has them.
from healthcare.ops.partitions import CHAT, add_months, month_start

RUN_IN_TRANSACTION = True
MONTHS_AHEAD = 3  # partitions from the cut on; the app's daily upkeep adds the rest
KEY_DAYS = 30  # healthcare.models.MESSAGE_KEY_DAYS when this was written
COMMENT = "One message of a conversation, numbered by `seq`. Partitioned by month on PostgreSQL."
OLD_COMMENT = "One message. `client_id` makes sending idempotent: a retried send finds it."


def _bound(moment: datetime) -> str:
    return f"'{moment:%Y-%m-%d} 00:00:00+00'"


async def _cut(db: BaseDBAsyncClient | None) -> datetime:
    """The first day of next month, or of the month after the newest row if later."""
    newest = datetime.now(UTC)
    if db is not None:  # None: `aerich migrate` reading the SQL, when any month will do
        rows = await db.execute_query_dict(
            'SELECT greatest(now(), max("created_at")) AS newest FROM "chat_messages"'
        )
        newest = rows[0]["newest"]
    return add_months(month_start(newest), 1)


async def upgrade(db: BaseDBAsyncClient | None) -> str:
    if db is not None and db.capabilities.dialect != "postgres":
        return ""
    cut = await _cut(db)
    months = "".join(
        f"""
        CREATE TABLE "{CHAT.partition_name(add_months(cut, n))}" PARTITION OF "chat_messages"
            FOR VALUES FROM ({_bound(add_months(cut, n))}) TO ({_bound(add_months(cut, n + 1))});"""
        for n in range(MONTHS_AHEAD)
    )
    return f"""
        LOCK TABLE "chat_messages" IN ACCESS EXCLUSIVE MODE;
        CREATE TABLE "chat_message_keys" (
            "message_id" UUID NOT NULL PRIMARY KEY,
            "client_id" UUID NOT NULL,
            "created_at" TIMESTAMPTZ NOT NULL,
            "sender_id" UUID NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
            CONSTRAINT "uid_chat_messag_sender__c6b444" UNIQUE ("sender_id", "client_id")
        );
        CREATE INDEX "idx_chat_messag_created_b3a038" ON "chat_message_keys" ("created_at");
        COMMENT ON TABLE "chat_message_keys" IS
            'Which message a sender''s clientId made: a retried send finds it here.';
        INSERT INTO "chat_message_keys" ("message_id", "client_id", "created_at", "sender_id")
            SELECT "id", "client_id", "created_at", "sender_id" FROM "chat_messages"
            WHERE "created_at" >= now() - interval '{KEY_DAYS} days';
        CREATE UNIQUE INDEX "chat_messages_id_created_at"
            ON "chat_messages" ("id", "created_at");
        CREATE UNIQUE INDEX "chat_messages_conversation_seq_created_at"
            ON "chat_messages" ("conversation_id", "seq", "created_at");
        ALTER TABLE "chat_messages" ADD CONSTRAINT "chat_messages_before_cut"
            CHECK ("created_at" < {_bound(cut)});
        ALTER TABLE "chat_messages" DROP CONSTRAINT "chat_messages_pkey";
        ALTER TABLE "chat_messages" DROP CONSTRAINT "uid_chat_messag_convers_190f77";
        ALTER TABLE "chat_messages" DROP CONSTRAINT "uid_chat_messag_sender__400dd2";
        ALTER TABLE "chat_messages" ADD CONSTRAINT "chat_messages_before_partitioning_pkey"
            PRIMARY KEY USING INDEX "chat_messages_id_created_at";
        ALTER TABLE "chat_messages" ADD CONSTRAINT "chat_messages_before_partitioning_seq"
            UNIQUE USING INDEX "chat_messages_conversation_seq_created_at";
        ALTER TABLE "chat_messages" RENAME TO "chat_messages_before_partitioning";
        CREATE TABLE "chat_messages" (LIKE "chat_messages_before_partitioning" INCLUDING DEFAULTS)
            PARTITION BY RANGE ("created_at");
        COMMENT ON TABLE "chat_messages" IS '{COMMENT}';
        ALTER TABLE "chat_messages" ADD CONSTRAINT "chat_messages_pkey"
            PRIMARY KEY ("id", "created_at");
        ALTER TABLE "chat_messages" ADD CONSTRAINT "uid_chat_messag_convers_190f77"
            UNIQUE ("conversation_id", "seq", "created_at");
        ALTER TABLE "chat_messages" ADD CONSTRAINT "chat_messages_conversation_id_fkey"
            FOREIGN KEY ("conversation_id") REFERENCES "conversations" ("id") ON DELETE CASCADE;
        ALTER TABLE "chat_messages" ADD CONSTRAINT "chat_messages_sender_id_fkey"
            FOREIGN KEY ("sender_id") REFERENCES "users" ("id") ON DELETE CASCADE;
        -- The CHECK proves every row fits, and the indexes and foreign keys match the
        -- parent's: attaching reads no row and builds nothing.
        ALTER TABLE "chat_messages" ATTACH PARTITION "chat_messages_before_partitioning"
            FOR VALUES FROM (MINVALUE) TO ({_bound(cut)});
        ALTER TABLE "chat_messages_before_partitioning"
            DROP CONSTRAINT "chat_messages_before_cut";{months}
        CREATE TABLE "chat_messages_default" PARTITION OF "chat_messages" DEFAULT;"""  # noqa: S608 (our constants, dates)


async def downgrade(db: BaseDBAsyncClient | None) -> str:
    # Back to one plain table: every row still held is copied (slow at millions of rows).
    return f"""
        LOCK TABLE "chat_messages" IN ACCESS EXCLUSIVE MODE;
        CREATE TABLE "chat_messages_unpartitioned" (LIKE "chat_messages" INCLUDING DEFAULTS);
        INSERT INTO "chat_messages_unpartitioned" SELECT * FROM "chat_messages";
        DROP TABLE "chat_messages";
        ALTER TABLE "chat_messages_unpartitioned" RENAME TO "chat_messages";
        COMMENT ON TABLE "chat_messages" IS '{OLD_COMMENT}';
        ALTER TABLE "chat_messages" ADD CONSTRAINT "chat_messages_pkey" PRIMARY KEY ("id");
        ALTER TABLE "chat_messages" ADD CONSTRAINT "uid_chat_messag_convers_190f77"
            UNIQUE ("conversation_id", "seq");
        ALTER TABLE "chat_messages" ADD CONSTRAINT "uid_chat_messag_sender__400dd2"
            UNIQUE ("sender_id", "client_id");
        ALTER TABLE "chat_messages" ADD CONSTRAINT "chat_messages_conversation_id_fkey"
            FOREIGN KEY ("conversation_id") REFERENCES "conversations" ("id") ON DELETE CASCADE;
        ALTER TABLE "chat_messages" ADD CONSTRAINT "chat_messages_sender_id_fkey"
            FOREIGN KEY ("sender_id") REFERENCES "users" ("id") ON DELETE CASCADE;
        DROP TABLE "chat_message_keys";"""  # noqa: S608 (our constants)


MODELS_STATE = (
    "eJztXXlz2kq2/ypd/id2FXEltpPc8X3vVRFMEiY2eAxOZiZMyQ1qG41Fi6vFxLN893dOtw"
    "TakQDbQumqVAxSn5b49Xb28++9qaUz0zlszmaWwd0p4+7eKfn3HqdTBh/SbjfIHp3Nljfx"
    "gktHpmhPlw3FDTpyXJuOsdNbajoMLunMGdvGzDUsjhRNMqOuAe1fOWRkWfdMJ64xZWRuuB"
    "NCiW6NXcs+xL7gI3Rm8LviZEM+5D1OLi3HvbNZ/y/nxJ1bhP0cm54Dzydji+P7wRs7ZH9q"
    "3NkUX4u8PSC3lj0ydGI9MNuEHwVPHXJu8ddjysfMNOFx4Z9KrFticeY/tkEo14NL/muKX+"
    "Bx4w+Paa51x9wJs+F3/PgHXDa4zn4yB7/+2JNdaIaOBI5LbdfRqLsH7X7s+X0lb2Ivs3vt"
    "1mCmHhk/2VJc19zHmbh2fd05+yRaIqgjbWyZ3pQvW88e3YnFF809z9APkQbv3THOACSmhw"
    "aUe6bpj39wSf5QuODaHlv8Qn15QWe31DNxWuz9z63HxwJ28ST87+T//FcLNdO0bm+g9dsD"
    "TdtLzCJ8hdgM8S+FRhiB+a/sdwmIuLqHD2h9aV7tH78/EBDICeMEcO39VxBSl0pSMVZLlJ"
    "cjkQD7DMDCiZkOeIQwhrvuUx4GH9bBP7iQMwABds+L9qBz0e4PmheX2P3Ucf4wBVrNQRvv"
    "HImrj7Gr+3JwLNhQ5G6z6IR87wy+EPxK/t7rtuNDuGg3+PsevhP1XEvj1lyjehjI4HJwCZ"
    "oux5hxfZ0RDpE9z/gut1k1wKUG2GbUgV+fGN8B++mmj+2SIja0AFHNBrP910FkHLvfmldi"
    "w7xo/vUgMpbnve7noPlyILut895HsYtGdk3Xc5KAtybUbnNvKkDvwCvikZu2dfrUzwf+Xr"
    "/1pX12fd4+K3k+LQlPyeLjkLd6F5fn7QFeXXyEq81uq30u2i4+Dnm3p/W/9L6fEv9DnCNK"
    "H9O9Kf2pmYzfuRP4+vZ9zhgHI/o2vgiDsT4St6Jj6LNDgm3Syq+gDPK1RtQ/2H7V1TQG+A"
    "CbNY6oKGUNTyncqPUeNx/9WbIjp5Y/oXMPLW+mrznqUUo16lUZ9RRexX/75ahHZMSiwl2E"
    "aJsyXnU32pUi3RLSqGhdFNMolQIVQEVVxO19qpjso5UE+JNlM+OOf2WPCZ4vhqmvj7p22A"
    "5z2Mury13epvOF+iY2reDnw49mrgDgCvaOq05rsJeyIShgVwEb2QMzcMUJPKLj+zm1dS1j"
    "Jo8nlN+xFNnlo0/46esVk2xtNtYhpWpL9Fcj4GOS9RRfz94eXld+j3VFjFuucWuMBSAbot"
    "YNdbWzUlQ+Wg+GzixtTE1zQ6y+YUct6KdO8wr3M+vICu1jkR0ueiu0xUFH8IILxNJR7XE2"
    "sOC/1di2Yv3VZB4iltOjaQzdKeX0TrwldofEmXt+vrVteTAUsrlpoYNptekNxo0Akf2Iti"
    "rKwxatVw6ZGA6clY+nZD6xiOxXh8/Uleat+YTxpFluO12utpMpg9eLGrzu4fetq7gNaKus"
    "M9/72Ot9RQWs/DvkwB4uNbihL1na2nTNbjV1uLe2NdU2U8bHuqiw/ra2mnjX2nAMIx1Uen"
    "HWdQhnNnswLM/R1vYnSO9hC8rdarJjO6jLrYDdeYfGUhnKlMlkO4YyuobFhCqDSbbBJCx1"
    "loQ1Qfm04FbE4219uwmNet9uqOKP+fLuJL4rFf3JORbR9rea/VbzrL2X3CKUDWUltJuYUE"
    "opI9fXrS3sA/natbAZoZh+LWLKKOLcHhAQ3WPkBj57LnO0EbuFWXUT05ARybWf4mWDv4Y7"
    "JGwIQB1ZI6Fx2/4jhnwGnYEocctsBjMdlXOETalhHpIL6wGeS9wJi/Q6tR6YQwyX7KMej9"
    "pT8YXewTQ6+H3IfTcvpJTTBW8fkhsHIaXuDTEc4jCXjB5Fz+g2b/jLDC5QeGt0o0WaDO3g"
    "j5QFHwVC+sgrDWJVNIix0Ukg3uEZwk+SMAa+sa1z7XlZb2EKeH309uTDyW/H709+gybiRR"
    "dXPuQMRKc7iLFnsBesIeEsqVQwQpV1Bv7GWXZ4Q2RKJ1Tl8d0d4aoqQ1xb6aqaMkBB8eqF"
    "BAFPN9z2Q1Ys6/JuPtuP7TT2UDyU9fvEIq7ljSfCqm2MJ2TCqOlOCHJBDWHebhA0leFHmy"
    "2M3sjFIr88pw6hpmnNmZ60rG+zcwyLhYkKTPVri5uPp4Lrbl52yAQacQvaAiMeWOiJZftc"
    "O6HEtuZ+dGskqpYOObzo3R08KhRG++6ATOk9MPvYPb7miDoMxJVbD/5cX+JOK/o6a6Oxhs"
    "Cz5yAlKA+Aqmyaefz7bmnRn5PPVEr0p1Ci7w6zWUaHLrCxLTNFAEajfR6iAVUdTIBPblh/"
    "2eCO1WhXRA4uMXUBGMN9TJ+2q31NltSVdjRpXl72Ot3BRbs7OCWhL+hs0u1fnw+ag06vi/"
    "4my29w70tzoMFe229+bsO90Lchv4Q20IF2edX71DmH27EL0OKq8w22enyvdh/uh78O+bfO"
    "WbuntZrn56dk+Vm8z7f2VX/5PotvQ37db1+dEvwfHV8GnU+dlt8u/G3Ie5ftK//G4mOcDS"
    "2yfo+PCqzf46PM9Yu30iZb6vLN3iYjRPXbJd+fFED5/UkmyngrcRql+noXW9JL6kov6at2"
    "U3hwNtE3DP4McImKv7BQhEhy6osmQ37W7nbQcUz+XWcpPIGzpuDFNToeM8dhKQviz/1eN3"
    "1BpJDGuW9j7JL/ENNwnkx5EZJ9Rp5hugZ3DvF5LyH+IFQRzjvhXhT3JIqdi9hB3L3Il7GT"
    "A/PRAo6N8gyebkkVG5MRkFVn/WwD9o+93nkE9o+duNvW9cXHNiwMMQbQyJBqpaSVY2wKDg"
    "0kGBiRDM/XDCk0QamOiNVHhM3gZzrpjHQ21lEqhXM6zgkV9UspT91JH5aERCRFe7q83chX"
    "n7oTzZEtS8QjOcYdf21wqZK8pVPDFKFENruFdTohrnXPuCOdApCacV0qPdFnwLTujIyYpM"
    "27FTpTcXQGrREZ7M+wif87yf6NY+g3Bw3iWND3g3WPLg90eRu6sjy3AfdQBYohUkPuzNCD"
    "IvImDTKjjjO3bN3XwTbgrZDBehCK1QNi8AdqGqgjE8rVKYH3toArU7rT6sjKddGdKg/k7S"
    "hP2c+ZAb2tk0MwQlnDUd+RUS4YzvGA2WjXGOYopXLQ2IVRzgreyWOG45T1Y4i3rwEEdqms"
    "4SlEouILcj1gPN9hvTJ+71WMKAhNp7K+LuFtQ3D5mpQgUnREJZKVXMm+BtjV7p75G+YrKS"
    "ncYm6XPkxqau6lyLahu4080RYzzWiOaFhCsv3ORleDFpF0QvYjpvHACPaGfvOkf3aJvjbw"
    "qdNqw2WuCwkPpEnuTUfMZjp52yBHDXJ8eJgu5W73ETIOAGkPSXsGUiZML1NK0HjxleM/yC"
    "HUZr6LkEzigf5G6LEvXYU4e4B+QPS98/2aUh34Bah+Ynv2h3LXr5bIikOS3K2Mu0w3fZ+g"
    "Tr75fzo6Oj7+cPTm+P1v704+fHj325uFk37yVp63/sfOZ1RlR5ifpG679jlWep8+oWFa/B"
    "nyZrf/Hb/Kv0MOG5TWanbPOtImF/kq72K8WfNqIO/5X4b8S7P7+frylMi/1TDazeijadFS"
    "xroQSTWMdPjY2hjplAYuey3UVwMXYjGK8gshEhVHEa/fwDDqtCSgESIFab5gPvZTUW4omN"
    "cxrWUjJp6HFurqSH85CSul8qgkqJHFWqUIH+CC3QvmODQ9gWb4diNXkoeG2lS2LCHK+xRS"
    "wgYUQb51hLYmJEePHjG+/Y+bQ3JJbdfAu/Lq1OLuJBo/ky7Nb/0paMLuuI4slGc4vmDOqG"
    "0a8NedUC6F+9CjQMgPcoot3mcfG+HUIC5G9ww5SPueSECQQm1a43tpDxfvKRQCN0smCi7A"
    "y2G4P7Fs6OKQ9KFjUW0PXhD2renMctE+7k5sy7ubkJvQ2MI6vclRKIReRCkWlGKhgvvwyy"
    "gWfNe3koywqQpdZLPCLvuZIklmZ/AL2ldZP7MVu65K4KeE9y0J78njvPDelSRVO5gS5p9b"
    "mA/Nwi2Inq1Yd7sJ8Wq5Prl2lXz/K8n3MFh7+SI+tmgUlfK1e/ZYOJ0HZtkIpF5KJFog00"
    "peuKOTKdXZKWbFYDAeIHcLofjWkLnqCKbhSMvjsYVeUZL/ymYu8QNLta/tv2lnzb/1yf7x"
    "mwOi00engdI4B+ndQ42ATg3M8yE7fSQmzOWFxI/59VxYGY7wRmcwa3SQ4meP2aJ1ZN4sJY"
    "PConUwFuVOmyiVErVLu50ruW/bXNNuiSIVcVSskuRRyNlX8cZPzRsrhm3XGbZwdbc0di1W"
    "/S2HWQu1LMyoUVemJHbQIxHZHVHnE/94mKMOrtzCVwzmC2WuS+PN1u9oddTdj2j50dAJAA"
    "1/xNLNhO8qE8WL8k1Tphtjamp+9boyet4U0udT+e69AMxPovBlP+nU4FIFgHIQvFuK73z2"
    "KGTRq6EoPRQGf2COa9xlVabNHoQkpYK/NPwungoi6+rMpKVqRiUpFfyl4UdPCDbXUCpLl/"
    "cyQ/7CZHnCXoEhqFjkX84YoPCWKHGHOQwYiFpuWvn07PmbIFTTt/T0lTztOnnjw4QqMLnK"
    "uord0kgp4/jqYS9iHPdm+pqjHqVUo16VUU9Z7P7bh2q8WGvkY44QKb1ktTIF1xPUqlYzWa"
    "2+qiS0OXp0ubiVHn2VHj2yCWYUMUzZFhSwq4CN7oSly0OG9gxdZ1ynScTLpMgIWx2aokNv"
    "WiPwE7oJJ10pty5kV36XdYUsXPlyQ9i6oa52VgDOR2tmLzvfEK3LUFcdl9VqTSatrAVLjf"
    "U4G1jwX8GDZMNCY1XgfTYtM5ZxomzNkL04MlYYtMNHSzHDthY63lbbt1ErivZmNP7rWJiL"
    "Et88He4zac4uQadyxlaAsW/kGKFVhJGKMKrCUOyoOq1QdTMPRqt0ebMwkdL8xBdS+MwrHb"
    "QVJ1VpPFcFGEV87DYPMIp0t5MIF4kvik+zAvogueqVOmglAx/eHUtrg57LYXWh51jB54f1"
    "IQX5/IhWZjWn3+TEmE490ZeIwVkk/1h0KSOFOLoVEvlbCb11RR6P8YTMbcNNCTraYr9ZuT"
    "biq0imKFHpNqolRvijkkA6M93GkqBOGTeO3p58OPnt+P3JItHG4kpefo2UXBqiPIseYJ3A"
    "NTvBY5Ly+fM8vgyH8zQZHS3upqrVckZgSaKgV8k0lbSspGUlLVdYllPS8ovLc0pa/mWl5W"
    "WymXQpOZKMJlc6XrQsKBQPMKskRmaOmDtnjIvwS9/RROSTxO9+oOZ8YhFngvUoKM+P9dxK"
    "r5iH48akjquJ5JZSWBIlGYMMH87vIn8H1oHEVJh4z3CIbc1FTsygkaigEST1HPJlDQ5MjD"
    "m2plPDlfkxxZtRP1cIgc3Om7JAUMen4rv4mTaBxKHzbJk96qqz9IhSEnulJPZgdiWxzsuS"
    "GaZ6PsH9zVOx0S+SJzNYIAJLZOTLD0NmF2pM1hsTf5vaYEiyelAjsmY2WSX9/4LSv1g+QU"
    "Ku8kOfQq7CCqsTaZQcbxVqpEKNqgpqjpJHxW0E82f9uI3UDKsq0KgYrtmBRqXqxoZLlGwQ"
    "2xEti1ITyFVIx4bxCdtTE56J2d4fT5juCVASisJYi0aeqtBfO47fuKgLja+0e+XXufmXSN"
    "bGdeKYlktkkcffUVdm2GTO2L35SCaWZzsE7fHEur0lRoq2cGu9Kkf7CnAMjRx9Gw6vhsOb"
    "BBtrr2Z424eJauFyHy2J+v4kB+zAheD9SWZJVLwVy0UD60abGtxLzQPUn1LTzC4BFKOtk2"
    "fS8dGH9wt9DX7J09D0L5rn50mVjMoGko3ybqpkUmT0imcDqUJ84TZkySLcuTjpN2M2v1v2"
    "PfyiL0FPO7as1oqGzZIhSwbCritBVmGGbl1+3Ih9b0+pYeaU1Yzcz2XdGbZco7CmoEObN9"
    "qyLc8dWT9Phe+5y3hwGbrhDpVcpnUra04KX1pZymJMPYdhpYxGgonf+hOwXAZ6Cwjzu2+m"
    "Hz1K8z8+Zg6rGu7sTxg13cmY2uwQrx/K6wfSfWBZ1uIGi3IarkN8jF93zgiQ6swWxTyIA8"
    "OBJT2xbOcjofDK05kr/AiCuh7yTeiQj23qTBauDcM9Oh6zGayN4Z6QWoYwCeAVRG0RF66h"
    "SwIbW3fccESIAHWWD/Tf75A0h9z/QdacO/hMa07mEwPa35iMOpGfAE1krU9xR9c87hrmDY"
    "hDDgEZncyoA1cPyWDChnxk6Y+isUCamhgZbePvo+MJulmQ/bkomjKmHKQqEx0ggNV+LQQx"
    "0+D3B8J9AhY/dAl3xjhO0G1QYwXeSAyTZYvH38II+Hm87yxLh9GXFVDoo4NN5xOrIS/Bhq"
    "yL15pPWNEo6R/A7lPXE1Mefqc2YvAcplJ4v7BQl1dwJluqyy04s6ZY96KnTlSoO3r3roBU"
    "B60yxTpxLyp74KJJx7jNvWniSI/gHdBWWYDeu2z2+997V2faVRuanJLo9yFffAeIup/bZ6"
    "EW/pUh/9a+6nz6m9a+aHbOT0n425D3O5+72vWl1hwM2iAOnJLYhSEXDf3ONEl8SlIuxlrC"
    "j+q02rGW8uKQNy8veyBIXrS7A+1jr/cV3zt5LdoOfnDrS/vs+jzeOHQjStFqdlvt80T7xe"
    "V4/xed7ln7Kt65vDrk8BMGml8A65SEv8G9Xrd/fT5oDjo9BA/lM2iSvBjnEYqsm+OjAsvm"
    "+Chz1eCtWFpvC+U82M5SpIgcpVOEqsqLZu0NqojaCVrlbFBJxZM3+icbp2hGsoEOkdQR5T"
    "dviqD85k02yngvijKydEmIs9OVBO1rge+zpyvxWeYygIdp1gK9mvauZ8N8yeavw+ksqZ8x"
    "jf1lu3vW6X4uybkHZMDHyA/AosA5DHwJ/D/kn4CZwPNc/oV7XzuXl3jB/7DOAfv2fYEN6W"
    "1c1brcj/BWLAOtlJVTxivTyBAmqY1v6NbinkOybQLSfBNDlLKGJobdNSmkuHn6ap0yOoow"
    "zQaait05X0r4/IWVYWUXTpxWOcxWeuWghzOz7TQDR7akEaWqA18WE50LyRrHObLGcVLW2K"
    "0IhGfV9+2mtbtIAAJq9NepZLQkU/tnlfdPaaVZY4QjhGqMqzzGYWfdkkxmCqniNePFCsfG"
    "bI0IkzidwjU3xGQBVxLjpwqGqCasK31Z4hMr4s4CL0G61+fne5k7xBbwradLfxznlL0xA+"
    "qXSSYi3IgubXbLbAbDJRdhmqtRuE1jtbvRLNa8QN149CoRxOjO4sHqI3MKaDfIDD6iOfqQ"
    "dC30czkVvin+kDrCeUQ6+9uWDGOI1ZHfTsdDvg/7kGVixpRD2d3hWftT8/p8oF1etT+1r9"
    "rdVrt/cEia47HlcTd45j7618wtW28Q30QofWSoOaePjnRb2jQcAX9VyaMlRKJ8TXMdVsKV"
    "L6TvWZqDqQVzhPIM/XV6DzHcR9BFvXSsH3u98wgD/LETN+dcX3xsX+2/FeMCjQy5LSaV3D"
    "ab4u9L9e3Ngz5CpwAvDjjmY9JyYh3zQE/QKuBLAB/O6yaDQErjn9GFGobiw6ACdzIHYEdV"
    "mVmBOyXiTPJCKDwnLZm3CqBYCkMhlvNZwicG1j1LTZEYultAlnGxYeGI54g3vHR2Hz1KWe"
    "CQ4KIBIaT/pfn66N17dIGfBFEN4inCP94FUVr/ndwImpuEQLP9Rwy5IWMMfPlEZi/EvufU"
    "99d3LbKP8pDvqir8VmUgBGfzhVyjoqp3QZ6ZeTZQZMRUr/aXCpFX2UNwpXN4nuN3eJqfRi"
    "Z9fDm+jA+VWMkaru30UcxyUg5T1S6GYvuB8WJ7LIPwgqDKK6NKHuC75S+guOzVXHYRhwH2"
    "c2ZAb2uMepSyhqO+I6NcyKbsOevJz47yGdiV8a2I1eFlXbuexJadrk54wZx+u69ReDaras"
    "S2naJ/iNu+szUQiRx6q1UQfWsKgjcWOfCtnVPPcTF3gU3oyPLcQzIwXFNmTBPR/hxzGMhg"
    "/kXVQZ25wsKZ0D5stXeRcyFSrQGTJ/ieCa9EdoLlryc5lRj2URMh6iLasrTDkOOVcF9hzF"
    "ton2Vo151jSQhsGFh2ffPcwWlKZYchd7zRAuu8Sg8NMjUcB1GCnyDRwtwFhjuBC0T3Zia+"
    "CSP70OeDwebQD7yGQ+7ozCEWanDmE4Y24ggEqLqZGFitntza1hQfPT0NvXsErkxlzI+E8w"
    "dmXVeVJiqloymdSv/ZM+c/peTzIsnza58toYp5BVq9i8vz9iDROrgcbd3taf0vve/Rtv7F"
    "WJ6B1lW7KbpNu5qakyDe1r8aa4sZIBJN5cX8LAjfOmftHsBwfq51uvD7RBhnysVIy4tOv4"
    "9PS1wqk51hHZXlE+RVQLaglLYyIKjyolpTl/b2qEjsDbTK1gkfFYzzzwa4VnH+KrZJ6Sqf"
    "RFcp6hKVH/IQmVJiVVmJFfbNLFlAN0GpwjMqWkS3ruguyneWRzdOqtCtXMhW1U75usRsVR"
    "TXzYK2UksDhY6oLcDbjPa2k7vC6sLPiVN9NcwvW798R4FeVb88C+lIcevNkY50V1uk46f9"
    "+uWvZFRbinK6RIb9ePLyesD+pOWcUsxXeyssi0GzRlEDozaWFCVqwQvLV8RGJS155M54YB"
    "zdhhkdT5aGuPTa76V7QcMhZpD3ZnDiu2RkoWFtYUKM9CTKx6OR0CEwYmPPttGmJ22FQYwn"
    "dYd80bk0JmI+dZmHHO2JTCci11MiJT3junNwSDqub+cEqEyHjJgJ5CLxedgEyX4ajusbBZ"
    "eGOj9pPJqCRtTx89rPbCaidmSJejFa8ASmo010yHFK3Rqmuam/dRV53CpEMmzZmLdLZeNr"
    "YdbbUkRPjmiiwnrKiiXbOwov7eXv6bhsmnYOJtrkHoKzUGsNDoZpiTIpU6YHR43fzQhOC4"
    "Oj/0iIw00efGWJVVxNxbd5aG6kyyX5JfTCdHXa6LdRPm+5QMpYNqNUNbRvPkmeeD0zKCwd"
    "ZX0HosDWtc8XwvdtDr5vk/jalueWAnhBUEOE3xUB+F02vu8S8N7aDH4nH5fygYgQ1RDmJ5"
    "nIumeX3pLDNArnYjgb+EBvvPD9jmKdXU8iTveMdQ1egGN7mjIeVbFcVzMwY7smwJc1n1QT"
    "4e2ZT14mBOaKwdHqTDJTcETuN/KEc1u2LJmGA4MvTPbaczC4Q3Qg01+USZCRlNm32K8S5y"
    "uwKTVyxHmVY+FZciwor9ps6OvrVatCw8vxuBUa3kJetQ5znPKsc5RKec7ls80+WlvgmJue"
    "O+kve9tNcFdyzNHZVSVmeQD7Ve/2No1PDm7lssi432mW36oIczyjXFRSR78Da+yiEwS9Z+"
    "hcQEL+bw7Zn1imodPHBpqj/ITeh4eHB6mc8VY6VWxxBTadPLYY9hLbXSd1T4SwhtxanY5v"
    "dGtaJzvTkkwNcKUHGCQLp5wCf0lRA3XyM1hTlVybjX595VrJ+JQUeyJEylaQK/RIrLYg89"
    "Q7MVZkSlVJ1BGwp8g5wXBkCzmYbaqw+n8GbS0URyziwLRwiMExo9OMuuio2FiKKPAPxBaq"
    "Tw1uYLdwLU242bg/JddUYF9p5Mg1L53rt0JK/ifJ9BtUwSptUUkQ1tB95Ojdu0KIv8tB/F"
    "3CIcqwHVcT30rAHaWqIdZP4qojgjXKQh0hUkgX9aLMSiO1Ok1bQPtUWCcPxsvmoNOWQSpl"
    "UrX5ZFi0QHwY8rNea9C7OiXy75A3zy463VMi/sT5lUJjs/WaBCPDSo5LtpOa37wGyoTn9k"
    "2b2datYTJtZoxdzy6146SQrjUAFbOcPsO2MwOQmCZjTEshHqOrH9yFUtnlZLJLJrJzZmxs"
    "UNMt5ckdIaofyk/jYOxoGMf8kLKH5NYXjNA9Y1HB4Hzd2aKCsqDYA7MNeNA6uuHUDpQrTJ"
    "VNLbtlCHhWrUN97QCqemjdRj1lrZetHpqalwuOUkfLsmqUSapTLjtX1WZFZlKdjHRmAjZf"
    "/a5wK45bTgX79TBrif5qi5znTjTfcXBTzGrpZBlldahpamgfo5tmCGtBT33RUW2xmlBXm8"
    "ocaJuCBV0Vz6a2m2iFot1g64elhIFUG8K29TjBquNmszEDqV3hVgo3ZAAZ1+n2UGuKDr3p"
    "L4GezR6MLRyfYfyu/C5rjN8iYefW5IOSuU7rAdxWJIRfATmV1rU4TKFQ9A3BWoS/13FKJW"
    "pXrg9WvGBmHeEKB3Gtj1QoXqyOID0YOrM0lDMdbUr1NMNVCbC+YW8oav4KcG2JjfilMAMu"
    "fVNpqQxeu3gixqbYVhiuWs6xUl71IWeI8YTpXprPW4BokIt4Na5nYv33Qz3WZEKWDEJYzq"
    "+USITI5MsORwjNe9GwQFCCICFIQkbMnTMMlebh2OhXThBRINLWG67jhxWkhSRs0Juou20a"
    "D0yLVju5wRxFmLAo2ouhk/nEMJm4JR6Ib+FgrAO0l54g+IghR5yJxccM62BPqEPEBnoqni"
    "0nEVkOHoGerDnWu2YEX0Z2PWN2+PFDvi+y+wfp8R1JRWBsH8WwYvr9G5krXeiLtUg98eCN"
    "4Vf4eunfh9yBt8I0/OLBWC1cZtm3rbnIxe83JNRmfj8yJ3O44njBmI4fGPUsc3jaHr9Do+"
    "4/VJzHi8Z5pEz7MrBnkG+xeloVcr6vhXkkR0BWptvVTtoL4md0Db7qdD/Dv5IzOSA7Jf6H"
    "IW+2Bp1v7VMi/w55u3uG9ZvFnyE/a7fOO6J8dPBpyIMSz/JvfJ9/GVfuYK9KjOCKmqdLsh"
    "r6reyun0rSPYlyZ47H2hqDHCNVvodVHmfBfq2XyEON8E6McIzzTZESV5YYihA/XwGKN080"
    "us9XZqiCZaR36NAsU+kYJDhWNqtGhEhBmij2Ue1EJTsIqTw0R48lQY2RqTrc8bwB7hoVCq"
    "NUaqrmJ9V5yTLRFQV4ZYaddepEZxpHVKXzKLjR5bsa2ApmhaokrgXSQiX5LgXrylocYVZz"
    "NazBif98wFaTM1iJa4w1iiAL70C61+fnxaqWq6CE7dilSxpav1v2PbzUF8uzJZ8Ss7VG7j"
    "fyzK1z2VKbLJoWqs46QvselmEJErS9csicsftTMofBfD0Wt1GLhRndhLUwsLdDQ7xO/mVx"
    "ll68dUt9ozF2IFqhwXFqcA/rftNbl9lonaQmXNO5cTdxyf67kzfkf8mbP52+eXOA+ediDx"
    "ImV26JfhtDjlbfgWW7luHgIweBuo/MLQ/+F8VohBF0HzVRg7/DZ3IpGcf+X85VPu7KsO6N"
    "HHsmzjidppwl+UVnQ2Sq5mzCemm7mlyIZWGN0ypsEzqSNZGNUipcY3PWP1nKFlyJkqncw/"
    "kFVzJd8Urz7aU98aqJ7+qaK9EJVqVMxE1mG+NJGlfq38nlR+myzSpGNBvULTNXmXtn6upO"
    "2TP9EdyMqXr6DfPo7cmHk9+O358sds3FlbytM9g1s3kpjPJKraiUnXYsRFLDDJ5PkpcWF1"
    "UJhP3mNUT3SXK6wRPdVB3zn/u9boaldEkSd/Ywxi75DzENZxf5qxxwEQzsOTsxZzwHZ4xb"
    "wA4+prELz3mY/ff/AbrcBxk="
)
