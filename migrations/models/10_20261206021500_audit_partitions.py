"""Written by hand: on PostgreSQL the audit trail becomes a table partitioned by month.

The existing `audit_events` is not copied: it becomes the partition of every row before
the cut (the first day of next month, UTC, at migration time; of the month after the
newest row if one is dated later), kept as
`audit_events_before_partitioning`. Beside it: one partition per month from the cut on
(three months; `healthcare.ops.partitions.ensure_partitions` keeps creating them ahead)
and a DEFAULT partition, so that an insert never fails for want of a partition. Old
months are then dropped whole by `healthcare audit-retention` instead of DELETEd.

The primary key becomes (id, created_at): a partitioned table's unique keys must hold
the partition key, and nothing references audit_events by foreign key. The ids stay
random UUIDs, unique in practice. The index names aerich knows stay on the parent
(`healthcare check-migrations` compares them), and the append-only trigger of migration
5 is created on the parent, so PostgreSQL puts it on every partition, present and future.

Writers wait while it runs: the unique index on (id, created_at) and the check that
every row is before the cut read the whole table once (seconds at millions of rows). Like
every migration here it is PostgreSQL's: SQLite never runs migrations (its schema comes
from the models), so the guard below only makes that explicit.

The downgrade converts back, and that one copies every row into a plain table.
"""

from datetime import datetime

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True
MONTHS_AHEAD = 3  # partitions from the cut on; the app's daily upkeep adds the rest


def _month(start: datetime, months: int) -> datetime:
    index = start.year * 12 + start.month - 1 + months
    return start.replace(year=index // 12, month=index % 12 + 1, day=1)


def _bound(moment: datetime) -> str:
    return f"'{moment:%Y-%m-%d} 00:00:00+00'"


async def upgrade(db: BaseDBAsyncClient | None) -> str:
    # None: `aerich migrate` reading every migration's SQL; there is none to read here.
    if db is None or db.capabilities.dialect != "postgres":
        return ""
    # A row dated later than this month (a clock gone wrong) moves the cut past it.
    rows = await db.execute_query_dict(
        "SELECT date_trunc('month', greatest(now(), max(created_at)) AT TIME ZONE 'UTC') "
        'AS this_month FROM "audit_events"'
    )
    cut = _month(rows[0]["this_month"], 1)
    months = "".join(
        f"""
        CREATE TABLE "audit_events_{_month(cut, n):%Y_%m}" PARTITION OF "audit_events"
            FOR VALUES FROM ({_bound(_month(cut, n))}) TO ({_bound(_month(cut, n + 1))});"""
        for n in range(MONTHS_AHEAD)
    )
    return f"""
        LOCK TABLE "audit_events" IN ACCESS EXCLUSIVE MODE;
        CREATE UNIQUE INDEX "audit_events_id_created_at" ON "audit_events" ("id", "created_at");
        ALTER TABLE "audit_events" ADD CONSTRAINT "audit_events_before_cut"
            CHECK ("created_at" < {_bound(cut)});
        DROP TRIGGER "audit_events_append_only" ON "audit_events";
        ALTER TABLE "audit_events" DROP CONSTRAINT "audit_events_pkey";
        ALTER TABLE "audit_events" ADD CONSTRAINT "audit_events_before_partitioning_pkey"
            PRIMARY KEY USING INDEX "audit_events_id_created_at";
        ALTER TABLE "audit_events" RENAME TO "audit_events_before_partitioning";
        ALTER INDEX "idx_audit_event_created_be2801"
            RENAME TO "audit_events_before_partitioning_created";
        ALTER INDEX "idx_audit_event_patient_6b53d2"
            RENAME TO "audit_events_before_partitioning_patient";
        CREATE TABLE "audit_events"
            (LIKE "audit_events_before_partitioning" INCLUDING DEFAULTS INCLUDING COMMENTS)
            PARTITION BY RANGE ("created_at");
        COMMENT ON TABLE "audit_events" IS
            'Who touched which health data, when, from where, and whether it was allowed.';
        ALTER TABLE "audit_events" ADD CONSTRAINT "audit_events_pkey"
            PRIMARY KEY ("id", "created_at");
        CREATE INDEX "idx_audit_event_created_be2801" ON "audit_events" ("created_at");
        CREATE INDEX "idx_audit_event_patient_6b53d2" ON "audit_events" ("patient_id");
        -- The CHECK proves every row fits: attaching reads no row.
        ALTER TABLE "audit_events" ATTACH PARTITION "audit_events_before_partitioning"
            FOR VALUES FROM (MINVALUE) TO ({_bound(cut)});
        ALTER TABLE "audit_events_before_partitioning" DROP CONSTRAINT "audit_events_before_cut";{months}
        CREATE TABLE "audit_events_default" PARTITION OF "audit_events" DEFAULT;
        CREATE TRIGGER "audit_events_append_only"
            BEFORE UPDATE OR DELETE ON "audit_events"
            FOR EACH ROW EXECUTE FUNCTION audit_events_are_append_only();"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    # Back to one plain table: every row still held is copied (slow at millions of rows);
    # months that audit-retention dropped stay dropped.
    return """
        LOCK TABLE "audit_events" IN ACCESS EXCLUSIVE MODE;
        CREATE TABLE "audit_events_unpartitioned"
            (LIKE "audit_events" INCLUDING DEFAULTS INCLUDING COMMENTS);
        INSERT INTO "audit_events_unpartitioned" SELECT * FROM "audit_events";
        DROP TABLE "audit_events";
        ALTER TABLE "audit_events_unpartitioned" RENAME TO "audit_events";
        COMMENT ON TABLE "audit_events" IS
            'Who touched which health data, when, from where, and whether it was allowed.';
        ALTER TABLE "audit_events" ADD CONSTRAINT "audit_events_pkey" PRIMARY KEY ("id");
        CREATE INDEX "idx_audit_event_created_be2801" ON "audit_events" ("created_at");
        CREATE INDEX "idx_audit_event_patient_6b53d2" ON "audit_events" ("patient_id");
        CREATE TRIGGER "audit_events_append_only"
            BEFORE UPDATE OR DELETE ON "audit_events"
            FOR EACH ROW EXECUTE FUNCTION audit_events_are_append_only();"""


MODELS_STATE = (
    "eJztXXtz2ki2/ypd/id2FXEldh6znntvFcEkYQeD1+Bk7w5bskBto2vRYtSSiXd3vvs9p1"
    "sCvZEA20LpqlQMUp+W+PXrvM+/D2a2QS1+3JzPbZO5M8rcgzPy7wOmzyh8SLvdIAf6fL66"
    "iRdcfWyJ9vqqobihj7nr6BPs9Fa3OIVLBuUTx5y7ps2QoknmumtC+1ecjG37nhrENWeULE"
    "x3SnRi2BPXdo6xL/gInZnsrjjZiI1Yn5FLm7t3Dh38rUvchU3oj4nlcXg+mdgM3w/emJPD"
    "mXnn6Pha5O0RubWdsWkQ+4E6FvwoeOqIMZu9nuhsQi0LHhf+qcS+JTaj/mMbRGdGcMl/Tf"
    "ELPGb+4VHNte+oO6UO/I7f/wmXTWbQH5Tj198PZBeaaSABd3XH5ZruHkC73w/8vpI3sZf5"
    "vXZrUsuIjJ9sKa5r7uNcXLu+7px/Fi0R1LE2sS1vxlat54/u1GbL5p5nGsdIg/fuKKMAEj"
    "VCA8o8y/LHP7gkfyhccB2PLn+hsbpg0Fvds3BaHPzXrccmAnbxJPzv3f/4rxZqpmm9/lAb"
    "tIeadpCYRfgKsRniXwqNMALzp+x3BYi4eoAPaH1tXh2efjgSEMgJwwO4Dv4UhLqrS1IxVi"
    "uUVyORAPscwMKJmQ54hDCGu+FTHgcfNsE/uJAzAAF2z4v2sHPRHgybF5fY/YzzPyyBVnPY"
    "xjsn4upj7OqhHBwbNhS52yw7Id87w68Ev5J/9Hvt+BAu2w3/cYDvpHuurTF7oelGGMjgcn"
    "AJmq7GmDJjkxEOkT3P+K62WTXApQbYoTqHX58Y3yH94aaP7YoiNrQAUc0Gs/33YWQce9+a"
    "V2LDvGj+/Sgylt1+70vQfDWQvVa3/0nsopFd0/V4EvDWVHfazJsJ0Dvwinjkpm2dPvXzgX"
    "8waH1tn1932+clz6cV4RlZfhyxVv/istse4tXlR7ja7LXaXdF2+XHEen1t8LX//Yz4H+Ic"
    "UfqYHsz0H5pF2Z07ha9vP+SMcTCib+OLMBjrE3ErOoY+OyTYJq38Csog32hE/YPtZ11NE4"
    "APsNngiIpS1vCUwo3a6DPr0Z8le3Jq+RM699Dy5saGox6lVKNelVFP4VX8t1+NekRGLCrc"
    "RYh2KeNVd6NdK9KtII2K1kUxjVIpUAFUVEXc3qeKyT5aSYA/2w4179hv9DHB88Uw9fVR15"
    "zuMYe9urra5R19sVTfxKYV/Hz40dQVAFzB3nHVaQ0PUjYEBew6YCN7YAauOIHH+uR+oTuG"
    "ljGTJ1Od3dEU2eWTT/j5tysq2dpsrENK1Zbor0bAxyTrGb6eszu8rvwe64oYs13z1pwIQL"
    "ZErRfqam+lqHy0HkyD2tpEt6wtsfqGHbWgnzrNK9zP7BM7tI9FdrjordAWBx3BCy4RS0e1"
    "z+jQhv/WY9uK9VeTeYhYzk5mMXRnOtPvxFtid0icuefnW9tWB0Mhm5sWOpjWm95g3AgQOY"
    "9oq9JZ2KL1ipOpyeGsfDwji6lNZL8GfNZdad5aTClLmuV20+V6O5kyeL2oweseft+mituA"
    "tso684NP/f5vqICVf0cM2MOVBjf0JUtbm67ZraYO99axZ9p2yvhYFxXW39ZWE+/aW45hpI"
    "NKL866DuHcoQ+m7XFtY3+C9B52oNytJju2h7rcCtid92gslaFMmUx2YyjTN7CY6Mpgkm0w"
    "CUudJWFNUD4tuBXxeNvcbqJHvW+3VPHHfHn3Et+1iv7kHIto+1vNQat53j5IbhHKhrIW2m"
    "1MKKWUkZvr1pb2gXztWtiMUEy/FjFlFHFuDwiI4VFyA589l3JtTG9hVt3ENGREcu1neNlk"
    "r+EOCRsCUEfWSGjcdv+IEZtDZyBK3FKHwkxH5RyhM920jsmF/QDPJe6URnqd2Q+UE9Mlh6"
    "jH052Z+KLfwTQ6+nXEfDcvpJTTBW8fkxuOkOruDTE54dQl40fRM7rNm/4ygws6vDW60SJN"
    "hnbw95QFHwVC+sgrDWJVNIix0Ukg3mEZwk+SMAa+uatz7XlZb2EKeH3y9t3Hd7+cfnj3Cz"
    "QRL7q88jFnIDq9YYw9g71gAwlnRaWCEaqsM/A3zrLDGyJTOqEqj+/+CFdVGeLaSlfVlAEK"
    "ilcvJAh4hum2H7JiWVd389l+bKfRh+KhrN+nNnFtbzIVVm1zMiVTqlvulCAX1BDm7QZBUx"
    "l+dOjS6I1cLPLLC50T3bLsBTWSlvVddo5hsTBRgal+bTPr8Uxw3c3LDplCI2ZDW2DEAws9"
    "sR2fayc6ceyFH90aiarVRwxe9O4OHhUKo31/RGb6PTD72D2+5ljnFMSVWw/+XF/iTiv6Om"
    "+jsYbAsxcgJSgPgKpsmnn8+35p0Z+Tz1RK9KdQou8Ps1lGhy6wcWwrRQBGo30eogFVHUyA"
    "T25Yf9ngjvVoV0QOLjF1ARjTfUyftut9TVbUlXY0aV5e9ju94UW7NzwjoS/obNIbXHeHzW"
    "Gn30N/k9U3uPe1OdRgrx00v7ThXujbiF1CG+hAu7zqf+504XbsArS46nyDrR7fqz2A++Gv"
    "I/atc97ua61mt3tGVp/F+3xrXw1W77P8NmLXg/bVGcH/0fFl2Pncafntwt9GrH/ZvvJvLD"
    "/G2dAi6/f0pMD6PT3JXL94K22ypS7f7G0yQlS/XfLDuwIof3iXiTLeSpxGqb7exZb0irrS"
    "S/qq3RQenE30DYM/Q1yi4i8sFCGSnPmiyYidt3sddByTfzdZCk/grCl4cU2fTCjnNGVB/H"
    "XQ76UviBTSOPdtTlzyH2KZ/MmUFyHZZ+yZlmsyfozPewnxB6GKcN4J96K4J1HsXMQO4u5F"
    "voydHJhPNnBsOsvg6VZUsTEZA1l11s8uYP/U73cjsH/qxN22ri8+tWFhiDGARqZUKyWtHB"
    "NLcGggwcCIZHi+ZkihCUp1RKw/IhwKP5OnM9LZWEepFM7pOCdU1C+lPHWnA1gSEpEU7enq"
    "diNffepONS5blohH4uYde20yqZK81WemJUKJHHoL63RKXPueMi6dApCaMkMqPdFnwLLvzI"
    "yYpO27FTpTcXQGrREZ7M90iP87yeENN42bowbhNvT9YN+jy4O+ug1d2Z7bgHuoAsUQqRHj"
    "c/SgiLxJg8x1zhe2Y/g62Aa8FTJYD0KxekRM9qBbJurIhHJ1RuC9beDKlO60OrJyXXSnyg"
    "N5N8pT+mNuQm+b5BCMUNZw1PdklAuGczxgNtoNhjlKqRw09mGUs4J38pjhOGX9GOLdawCB"
    "XSpreAqRqPiCXA8Yz3dYr4zfexUjCkLTqayvS3jbEFy+JiWIFB1RiWQlV7KvIXa1v2f+lv"
    "lKSgq3mNtlAJNatw5SZNvQ3UaeaIuZZjQuGpaQbL/T8dWwRSSdkP2IZT5Qgr2h3zwZnF+i"
    "rw186rTacJkZQsIDaZJ5szF1qEHeNshJg5weH6dLubt9hIwDQNpj0p6DlAnTy5ISNF58xf"
    "0HcaI71HcRkkk80N8IPfalqxCjD9APiL53vl9TqgO/ANVPbE//UO761RJZcUiSu5V5l+mm"
    "7xPUyTf/Lycnp6cfT96cfvjl/buPH9//8mbppJ+8leet/6nzBVXZEeYnqduufY6V/ufPaJ"
    "gWf0as2Rt8x6/y74jBBqW1mr3zjrTJRb7Kuxhv1rwaynv+lxH72ux9ub48I/JvNYx2c/3R"
    "svVSxroQSTWMdPjY2hjplAYuey3UVwMXYjGK8gshEhVHEa/fQDHqtCSgESIFab5gPvFTUW"
    "4pmNcxrWUjJp6HFur6SH85CSul8qgkqJHFWqUIH+CC3QvKuZ6eQDN8u5EryUNDbSZblhDl"
    "fYpjcuO7kZjGjR/qgpCh0ReW3Gxuu3DzDMNmKAwICMdcGJbNUDB7QobfYd/pcrbNQBznsu"
    "RKSN7G+nKR8V4+XsniShavzNb1MrL4ai2U4R0tVRsim3t06Y8U4Ss76V3QvsoqjZ2YQlXO"
    "OyXv7kjeTR71hfeuJKnawZT8+9zyb2gW7kBaa8W620+I14vCybWrROL6i8Th+hppMnGs/k"
    "aOUBxqWTjzhe7KpHAcbcIgjcpKS/jHwywhcOUWvqI7dSh3SFqWi807Kl1dPcTb/DNZXj18"
    "V0m8L5ssjhrmRLc0v35IGbEhhfQZ6wW/AMxPIj/QH/rMZPJEQRUTvFuK91L2KGTRq6EoPR"
    "QmHO7cNe+yaoNlD0KSUsFfGn4XTwWR92pu6aWy9icpFfyl4cf6FnShob4hXZOR6XQdJstT"
    "YxQYgor5XueMAWohEkVGMIqMasx20wpYZs/fBKGavqWnr+RpN8ncGSZUoSFVDg1RutbMYa"
    "6xrtWbGxuOepRSjXpVRj1lsScqz0bUCUW1ABEipQKuVq62eoJa1XzS69VXlYQ2x2QhF7fS"
    "o6/To0c2wYwyMinbggJ2HbDRnbB0gZ7QnmEYlBl6EvEyQYphq0NTdOjNagR+QjfB05Vym0"
    "J25XdZV8jCtYe2hK0X6mpvBeB8tObOqvMt0boMddVxaa3WZNLKWrDYQ5/RoQ3/FTxItiz1"
    "UAXeZ9tCDxknys4M2csjY41BO3y0FDNsa6Hjbb19G7WiaG9G47+BpRF04punw30mzdkl6F"
    "TWrgow9o0cI7RyWFUOq1UYij1VpxWqL+HBaJUuMBEmUpqf+EIKn3mlfYDjpCqR0jp/1YiP"
    "3fb+qpHu9hLhIu6q8WlWQB8kV71SB61l4MO7Y6XKNafqOdbw+WF9SEE+P6KVKVCxmRFzNv"
    "NEX8Ckzx9lGqVwl684mVgmQ7dCIn8r0W9d6hCqT6Zk4ZguTUoCO+w3K6wzvopkSicVvVkt"
    "McIflQTSmdGbK4I6BXDurNCxTJBtBFgncM1OsZOkfP5MOy/D4TxNTh2bualqtZwRWJEo6F"
    "U6IyUtK2lZScsVluWUtPzi8pySln9aaXkVu5wuJUdim3Ol42XLgkLxEFP+YmTmmLoLSpkI"
    "v/QdTfxq4DQI1FxMbcKnmBFYZ/mxnjvpFcvy3Fg6dzVO/7ghUliSFceDvE6/LhMnWfbkHu"
    "+ZXBYy5/aykchhHCRBHrFVFmRiMpDSZzPTJbZjUEe8mU5kchcCm503o4Ggjk/FdyE34mWA"
    "hOuLbJk96qqz8ohSEnulJPZgdiWxzku6FKZ6PsH9zVOx0S+SdilYIAJLZOTLD0NmF2pMNh"
    "sTf5vaYkiyelAjsmFyMiX9/4TSv1g+PveywdCnkKuwwupEGiXHW4UaqVCjqoKao+RRcRvB"
    "/Nk8biM1YZcKNCqGa3agUanKXeEk0VvEdkQTU9cEchXSsWV8wu7UhOditg8mU2p4ApSEoj"
    "DWopGnKvTXDvcbF3Wh8ZV2rzhBtpH8SyRrYwbhlu0SWWbnV79w9oLSe+uRTG3P4QTt8cS+"
    "vU3Njb6zXpWjfQU4hkaOvg2HV8PhTYKdXVY1QlQLl/toUaoP73LADlwIPrzLLEqFt2K5aG"
    "DdaDOTeal5gAYz3bKyM8rHaOvkmXR68vHDUl+DX/I0NIOLZrebVMmobCDZKO+nSiZFRq94"
    "NpAqxBfuQpYswp2Lk347ZvO77dzDL/oa9LRny2qjaNgsGbJkIOymEmQVZujO5cet2Pf2TD"
    "etnMJGkfu5rDvFlhuUNhJ0aPNGW7btuWP7x5nwPXexrK+8DN0wrksu076VBYGFLy181F0y"
    "0T1OsQhRI8HE7/wJI8aFt4Awv/tm+vGjNP/jYxawquHO4ZTqljud6A49xuvH8vqRdB8I1O"
    "BYacnEbjnxMX7dOSdAalCnIfrkMBwE3gkrGj8SHV55NneFH4Gsw/Tov4k+YhNH59Ola8Po"
    "QJ9M6BzWxuhASC0jmATwCqJskwvX0CWBTuw7ZnIRIqDz1QOXJaGaI+b/IHvBOD7TXpDF1I"
    "T2NxbVeeQnQBPxJHnH0DzmmtYNiEOcgIxO5jqHq8dkOKUjNraNR9HYL+6MkdEO/j59MkU3"
    "C3IIT5lMsWI0SFUWOkAAq/1aCGKWye6PhPsELH7oEu5McJygW//F8Y3EMNmOePwtjICfx/"
    "vOtg0YfRxU2GUeOTZdTO2GvIRlbMVrYVHpwjm+oSPXE1Mefqc2pvAcqlJ4v7BQt1pjZaS6"
    "KNVuxLoXPXWiQt3J+/cFpDpolSnWiXs/Wd3oy+Zg8L1/dY41n9vDMxL9PmLL7y2sAd0+D7"
    "Xwr4zYt/ZV5/P/au2LZqd7RsLfRmzQ+dLTri+15nDYBnHgjMQujJho6HemSeIzknIx1hJ+"
    "VKfVjrWUF0eseXnZB0Hyot0bap/6/d/wvZPXou3gB7e+ts+vu/HGoRtRilaz12p3E+2Xl+"
    "P9X3R656Iqd8rVEYOfMNRAbBo0v8DPCn+De/3e4Lo7bA47fQRPVvFOuRjnEYqsm9OTAsvm"
    "9CRz1eCtWFpvG+U82M5SpIgcpVOEqsqLZuMNqojaCVrlbFBJxZM3/j86SdGMZAMdIqkjym"
    "/eFEH5zZtslPFeFGVk6ZIQZ6crCdrXAt9nT1fis8xlAA/TbAR6Ne1dz4b5is3fhNNZUT9j"
    "GvvLdu+80/tSknMPyICPkR+ARYFzGPgS+H/EPgMzgee5/Av3futcXuIF/8MmB+zbDwU2pL"
    "dxVetqP8JbsQy0UlZOGa9MI0OYpDa+oTuLew7JtglI800MUcoamhj216SQ4ubpq3XK6CjC"
    "NFtoKvbnfCnh8xdWhpVdOHFa5TBb6ZWDHs7UcdIMHNmSRpSqDnxZTHQuJGuc5sgap0lZY7"
    "8iEJ5V37ef1u4iAQio0d+kktGKTO2fVd4/pZVmgxGOEKoxrvIYh511SzKZKaSK14wXK5yY"
    "8w0iTOJ0CtfcEJMlXEmMnyoYopqwrvVliU+siDsLvATpXXe7B5k7xA7wradLfxznlL0xA+"
    "qXSSYi3IguHXpLHQrDJRdhmqtRuE1jvbvRPNa8QN149CoRxOjO4sHqIwsd0G6QOXxEc/Qx"
    "6dno53ImfFP8IeXCeUQ6+zu2DGOI1ZHfTccjdgj7kG1hxpRj2d3xeftz87o71C6v2p/bV+"
    "1eqz04OibNycT2mBs88xD9axa2YzSIbyKUPjK6tdAfuXRb2jYcAX9VyaMlRKJ8TXMdVsKV"
    "L6TvWZqDqQ1zRGcZ+uv0HmK4j6GLeulYP/X73QgD/KkTN+dcX3xqXx2+FeMCjUy5LSaV3A"
    "6d4e9L9e3Ngz5CpwAvDjjmY9JyYh3zQE/QKuBLAB/O6yaDQErjn9GFGobiw6ACdzIHYE9V"
    "mVmBOyXiTPJCKDyelsxbBVCshKEQy/ks4RND+56mpkgM3S0gy7jYsHDEc8QbXjq7jx+lLH"
    "BMcNGAEDL42nx98v4DusBPg6gG8RThH++CKG38Sm4EzU1CoNn9I0bMlDEGvnwisxdi3wvd"
    "99d3bXKI8pDvqir8VmUgBKOLpVyjoqr3QZ6Zew5QZMRUr/eXCpFX2UNwrXN4nuN3eJqfRS"
    "Z9fDm+jA+VWMkaru30UcxyUg5T1S6GYveB8WJ7LIPwkqDKK6NKHuD75S+guOz1XHYRhwH6"
    "Y25CbxuMepSyhqO+J6NcyKbs8c3kZ658BvZlfCtidXhZ164nsWWnqxNeMKff/msUns2qGr"
    "Ftp+gf4rbvbA1EIofeehXEwJ6B4I1FDnxr58zjLuYucIg+tj33mAxN15IZ00S0P8McBjKY"
    "f1l10KCusHAmtA877V3kXIhUa8DkCb5nwiuRnWD160lOJYZD1ESIuoiOLO0wYngl3FcY8x"
    "baZynadRdYEgIbBpZd3zx3dJZS2WHEuDdeYp1X6aFBZibniBL8BIkW5i4w3SlcIIY3t/BN"
    "KDmEPh9MuoB+4DU4udPnnNiowVlMKdqIIxCg6mZqYrV6cuvYM3z07Cz07hG4MpUxvyecPz"
    "Druqo0USkdTelU+s+eOf8pJZ8XSZ5f+2wJVcwr0OpfXHbbw0Tr4HK0da+vDb72v0fb+hdj"
    "eQZaV+2m6DbtampOgnhb/2qsLWaASDSVF/OzIHzrnLf7AEO3q3V68PtEGGfKxUjLi85ggE"
    "9LXCqTnWETleUT5FVAtqCUtjIgqPKi2lCX9vakSOwNtMrWCZ8UjPPPBrhWcf4qtknpKp9E"
    "VynqEpUf8hCZUmJVWYkV9s0sWUA3QanCMypaRLeu6C7Ld5ZHN06q0K1cyFbVTvm6xGxVFN"
    "ftgrZSSwOFjqgdwNuM9raXu8L6ws+JU309zC9bv3xPgV5XvzwL6Uhx6+2RjnRXW6Tjp/3m"
    "5a9kVFuKcrpEhv148vJ6wP6k5ZxSzFcHayyLQbNGUQOjNpEUJWrBC8tXxEYlLXnkznygDN"
    "2GqT6Zrgxx6bXfS/eChkPMIO/N4cR3ydhGw9rShBjpSZSPRyMhJzBiE89x0KYnbYVBjKfu"
    "jtiyc2lMxHzqMg852hOpQUSup0RKesoMfnRMOq5v5wSoLE7G1AJykfg8bIKkP0zu+kbBla"
    "HOTxqPpqCxzv289nOHiqgdWaJejBY8gRpoEx0xnFK3pmVt629dRR63CpEMOzbm7VPZ+FqY"
    "9XYU0ZMjmqiwnrJiye6Owktn9Xs6Lp2lnYOJNrmH4DzUWoODYVaiTMqMGsFR43czhtPCZO"
    "g/EuJwkwdfWWIVV1PxbR6am+lySX4JvTBdnTb6XZTPWy2QMpbNKFUN7ZtPkifeyAwKS0fZ"
    "2IMosE3t84XwfZuD79skvo7tuaUAXhLUEOH3RQB+n43v+wS8tw6F38kmpXwgIkQ1hPlJJr"
    "LhOaW35DCNwrkYziY+0Jssfb+jWGfXk4jTPWNdgxfg2J6mjEdVLNfVDMzYrQnwZc0n1UR4"
    "d+aTlwmBuaJwtPJpZgqOyP1GnnDuyJYl03Bg8IVFX3scgztEBzL9RZkEGUmZfYf9KnG+Ap"
    "tSI0ecVzkWniXHgvKqzYa+vl61KjS8HI9boeEt5FXLKeflWecolfKcy2ebfbR2wDE3PXc6"
    "WPW2n+Cu5Zijs6tKzPIQ9qv+7W0anxzcymWRcb/TbL9VEeZ4rjNRSR39DuyJi04Q+j1F5w"
    "IS8n/j5HBqW6ahPzbQHOUn9D4+Pj5K5Yx30qliiyuw6eSxxbCXOO4mqXsihDXk1up0fKNb"
    "0ybZmVZkaoArPcAgWfByCvwVRQ3Uyc9gTVVybTb69ZVrJeNTUuyJEClbQa7QI7HagcxT78"
    "RYkSlVJVFHwJ4i5wTDkS3kYLapwur/ObS1URyxCYdpwYnJMKPTXHfRUbGxElHgH4gtujEz"
    "mYndwrU04Wbr/pRcU4F9pZEj17x0rt8KKfmfJNNvUAWrtEUlQVhD95GT9+8LIf4+B/H3CY"
    "co0+GuJr6VgDtKVUOsn8RVRwRrlIU6QqSQLupFmZVGan2atoD2qbBOHoyXzWGnLYNUyqRq"
    "88mwaIH4MGLn/dawf3VG5N8Ra55fdHpnRPyJ8yuFxmbnNQnGpp0cl2wnNb95DZQJz+2bNn"
    "fsW9Oi2tycuJ5TasdJId1oACpmOX2GbWcOIFFNxpiWQjxGVz+4C6Wyy8lkl0xkx+d0YuqW"
    "W8qTO0JUP5SfxsGYaxjH/JCyh+TWF4zQPWNRweB83duigrKg2AN1THjQJrrh1A6UK0yVTS"
    "37ZQh4Vq1Dfe0Aqnpo3UY9Za2XrR6ampcLjlKuZVk1yiTVKZedq2qzIjOpTkY6MwGbr35X"
    "uBXHLaeC/WaYtUR/tUXOc6ea7zi4LWa1dLKMsjq6ZWloH9O3zRDWgp4GoqPaYjXVXW0mc6"
    "BtCxZ0VTyb2n6iFYp2g60flhIGUm0J287jBKuOm0MnFKR2hVsp3JABpMzQd4daU3TozX4K"
    "9Bz6YO7g+Azjd+V3WWP8lgk7dyYflMx1Wg/gdiIh/AzIqbSuxWEKhaJvCdYy/L2OUypRu3"
    "JzsOIFM+sIVziIa3OkQvFidQTpwTSoraGcybWZbqQZrkqA9Q17Q1HzZ4BrR2zET4UZcOnb"
    "Sktl8NrHEzE2xXbCcNVyjpXyqg85Q0ym1PDSfN4CRINcxOtxPRfrfxDqsSYTsmQQwmp+pU"
    "QiRCZfdjhCaN6LhgWCEgQJQRIypu6CYqg0C8dGv+JBRIFIW2+63A8rSAtJ2KI3UXfbMh+o"
    "Fq12coM5ijBhUbQX0yCLqWlRcUs8EN+CY6wDtJeeIPiIEUOcic0mFOtgT3VOxAZ6Jp4tJx"
    "FZDR6BnuwF1rumBF9Gdj2nTvjxI3YosvsH6fG5pCIwto9iWDH9/o3MlS70xVqknnjwxvAr"
    "fL30ryPG4a0wDb94MFYLl1n2HXshcvH7DYnuUL8fmZM5XHG8YEzH7xj1LHN4Oh67Q6PuP1"
    "Wcx4vGeaRM+zKwZ5DvsHpaFXK+b4R5JEdAVqbb9U7aS+JndA2+6vS+wL+SMzkgOyP+hxFr"
    "toadb+0zIv+OWLt3jvWbxZ8RO2+3uh1RPjr4NGJBiWf5N77Pv4wrd7BXJUZwTc3TFVkN/V"
    "b2108l6Z6kM77AY22DQY6RKt/DKo+zYL82S+ShRngvRjjG+aZIiWtLDEWIn68AxZsnGt3n"
    "KzNUwTLSe3Rolql0DBIcLZtVI0KkIE0U+6h2opI9hFQemuPHkqDGyFQd7njeAHeDCoVRKj"
    "VV85PqvGSZ6IoCvDbDziZ1ojONI6rSeRTc6PJdD2wFs0JVEtcCaaGSfJeCdW0tjjCruR7W"
    "4MR/PmCryRmsxTXGGkWQhXcgvetut1jVchWUsBu7dElD63fbuYeX+mp7juRTYrbWyP1Gnr"
    "l1IVtq02XTQtVZx2jfwzIsQYK2V5wsKL0/IwsYzNcTcRu1WJjRTVgLA3s7NMTr5F82o+nF"
    "W3fUNxpjh6IVGhxnJvOw7rd+61IHrZO6BdcMZt5NXXL4/t0b8t/kzV/O3rw5wvxzsQcJky"
    "uzRb+NEUOr79B2XNvk+MhhoO4jC9uD/0UxGmEEPURN1PAf8JlcSsZx8LeuysddGda9kWPP"
    "xBln6ClnSX7R2RCZqjmbsF46riYXYllY47QK24SOZENko5QK19ic9U+WsgVXomQq93B+wZ"
    "VMV7zSfHtpT7xq4ru+5kp0glUpE3GTOuZkmsaV+ndy+VF91WYdI5oN6o6Zq8y9M3V1p+yZ"
    "/ghux1Q9/YZ58vbdx3e/nH54t9w1l1fyts5g18zmpTDKK7WiUnbasRBJDTN4PkleWlxUJR"
    "D2m9cQ3SfJ6QZPdFN1zH8d9HsZltIVSdzZw5y45D/EMvk+8lc54CIY2HN2Ys54Ds4Yt4Ad"
    "fEpjF57zMPvz/wFQmJI0"
)
