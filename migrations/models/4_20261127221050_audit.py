from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "audit_events" (
    "id" UUID NOT NULL PRIMARY KEY,
    "created_at" TIMESTAMPTZ NOT NULL,
    "actor_id" UUID,
    "actor_role" VARCHAR(16),
    "patient_id" UUID,
    "entity" VARCHAR(32) NOT NULL,
    "entity_id" VARCHAR(64),
    "action" VARCHAR(16) NOT NULL,
    "fields_accessed" JSONB NOT NULL,
    "allowed" BOOL NOT NULL,
    "client_address" VARCHAR(64),
    "request_id" VARCHAR(64)
);
CREATE INDEX IF NOT EXISTS "idx_audit_event_created_be2801" ON "audit_events" ("created_at");
CREATE INDEX IF NOT EXISTS "idx_audit_event_patient_6b53d2" ON "audit_events" ("patient_id");
COMMENT ON COLUMN "audit_events"."entity" IS 'APPOINTMENT: APPOINTMENT\nCONSULTATION: CONSULTATION\nCHAT_MESSAGE: CHAT_MESSAGE\nPATIENT_PROFILE: PATIENT_PROFILE\nOPERATION: OPERATION';
COMMENT ON COLUMN "audit_events"."action" IS 'READ: READ\nCREATE: CREATE\nUPDATE: UPDATE\nDENIED: DENIED';
COMMENT ON TABLE "audit_events" IS 'Who touched which health data, when, from where, and whether it was allowed.';"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TABLE IF EXISTS "audit_events";"""


MODELS_STATE = (
    "eJztXe1z4jjS/1dU+bIzVUwqIS8zl7vnqSIJO+E2gVwgN1e7XHkULIIqRmItOUyeu/3fH0"
    "k2+E02NpDEePUlAVvdNr/WS3eru/WfvSm1kcP2W7MZxYRPEeF7Z+A/ewROkfigu90Ae3A2"
    "C2/KCxw+OKo9DBuqG/CBcReOJNMxdBgSl2zERi6ecUyJpGiBGeRYtP+JgQdKn5ANOJ4iMM"
    "d8AiCw6YhTd1/yEh8FM0wei5MNyZD0CLiljD+6qP+Pa8DnFKAfI8dj4vlgRIl8P/HGDHyY"
    "4kcXytcChx/BmLoP2Ab0GbmO+FHiqUNCKPk0gmSEHEc8LvpTAR0DSlDw2AaAxF5cCl5T/Q"
    "KP4N89ZHH6iPgEueJ3/PZvcRkTG/1ATH79bc9nYWFbEjAOXc4syPdEu9/2Al7pm5LL7Mka"
    "Y+TYMfn5LdV1i7/M1LX7+87lz6qlBPXBGlHHm5Kw9eyFTyhZNvc8bO9LGnnvEREkQEJ2RK"
    "DEc5xA/otL/g8VF7jroeUvtMMLNhpDz5HdYu9vY4+MFOzqSfLP8f8GrxZpZlnd3sDqtweW"
    "tZfqRfIVEj0kuBSRsATmD59vCIi6uicfcHHVuvtwdPpRQeB3GLaAa+8PRQg59EmVrEKUQ0"
    "mkwL4UYMmOqQc8RpjA3Q4o9xcf1sF/cSFHAAvs3hbtQeem3R+0bm4l+yljvzsKrdagLe80"
    "1dWXxNUPvnComFD82WbJBHzrDK6A/Ap+7XXbSREu2w1+3ZPvBD1OLULnFrSjQC4uLy6Jpq"
    "GMEbHXkXCE7G3kG06zRsClBOwiyMSvT8l3gH5wvWxDioRoBUQ1E2b7X4OYHLv/bN2pCfOm"
    "9a+PMVle97pfF81DQXYvrnvnahaNzZrcY2nALybQbRNvqkDviFeUS65u6gyo3w78vf7FVf"
    "vy/rp9WXJ9CgnPwPLjkFz0bm6v2wN5dflRXG11L9rXqu3y45B0e1b/qvftDAQfkhqRXqZ7"
    "U/jDchB55BPx9fA0R8YLiR4mB+FC1k11Ky7DQB1SapNVfgRlkK8l0WBh+7OOppGAT2Czxh"
    "IVp6zhKiUnartHnJegl+zIqhV06NxFy5vZa0o9TmmkXhWpa3SV4O1DqcdsxKLGXYxomzZe"
    "dSfalSZdCGnctC6KaZzKgCpAla6I8ZPWTA7QSgP8M3URfiS/oJeUzpfANPBH3TO0wxp2eD"
    "Wc5V04X7pvEt1K/HzxoxFXANyJueOuczHY00wIBthVwMbmwAxcZQd+gKOnOXRtK6MnjyaQ"
    "PCKN7XIeEP78yx3y1dpsrCNO1QvFr0bAx3onoRyP8UjBsSFm3QirnbUJ0mjJPkebNNLXYr"
    "0wfivSDQUj8YJLNPS49ggaUPFnNboXCX41QnfanCbQnUICH9VbSnaSOHNc5u+IhIO30L6I"
    "FZk8Vm+PCLkBQeS+yP0ESKK7Dj8xMMFMzGcvZ2A+ocDna4vPkPtbEPMJIumtk+2wXL2XYT"
    "Yl3nVT4kn8vnWdawvaKvs19857vV+kk8z/PyRiCQ+9bJEvWR41vfetmn62sUun1mYO0wSL"
    "CvvYaustFRb9ZjKMMaj04KyrCGcuesbUY9bae756DltwwFVTHdtBf1sF9gZ3SJZmM8O4tb"
    "ezmQHX8GpD49TOdmpHrc6SsKYoXxfcikQlre/bhvEIyQ3dsIl4y53Ed6UzNt3HYh7Zi1b/"
    "onXZ3ktPEcbPvRLaTdzcpZyRZX1rno15+zkrzDi828j1psl2FnouHmX8bUIBp95oopxZeD"
    "QBEwQdPgHSfdJQXq0GkBay/Oiipa9LurYA5mAOGYCOQ+fITjvUtslcRiyL0Y+I/YmKRV6I"
    "d4JA67YDJqIRoaLti3hW4JgD1AW+bAEELp0HgcexgGc4JOJFHx/FoyIRzicfwRQ+IabYy9"
    "d8gAwBF4098e/+VmoDitdlW9poQDx7jhzHOP6qshI1chx/u6U8v+XKZHTn19Cdd8dWLaM6"
    "K2xc6iC9ry4P0QVVHSz/V/envW/czWq0d8MyiWcqcMxf1nUxh9SV9i+3bm97ne7gpt0dnI"
    "HIF+lj7vbvrwetQafXlW7m8Ju4d9UaWGKu7be+tsW9yLchuRVtBAPr9q73c+da3E5cGJLe"
    "bfsuYLv8uI5X+qhZYBQdNTNHkbylE7l2EGVPVjGi+s1Vp8cFUD49zkRZ3kqtCdpAi2IDK6"
    "Su9MC6a7fU9mlLbsyIfwM5UNT/IfENg7PAQBiSy3a3I3dt/P/V2KDxNWILjkaIMaQZEH/v"
    "97r6AaEhTerAeMTBf4GD2Zb8Mpock9ACefCwwzFh+/J572GESKjyfftJN35idZIMkr79wN"
    "JNC+acCr0JkgzNKqRKyORBkFVn/GwD9vNe7zoG+3knuWdyf3PeFgNDyUA0wr53R6yByY0U"
    "R+lJwo4QEsnYds6wBVOUZolYvUS4SPxMpldns7GOUxmc9TinvO/v5cLkk74YEj4iGh9meL"
    "uR78TkE4v5LUsEAzL8SD5h4jsGx3CKHRXH56KxGKcTwOkTItKtBzmQ1IjYvutR1iJw6CPO"
    "CAjcnK3yXKqlc9FaIiP5YRcEvxN8+M6w/f1jAzAqeD/TJ/EKAIa3BSvq8Ya4Jx2RMj5xSN"
    "hMTETxN2mAGWRsTl078IQ2xFtJBetZuTc/AkyeoYOlp0q5OKdAvDcVWpnxYFbHYq2LB9Ns"
    "/2/HhYl+zLDgtk6RhRhlDaW+I1IuGEv1LMv1rCHmOKWJmNsFKWdFzuUpw0nK+inE2/cACn"
    "Wp7PZPhMQE9+QG93hBtEhlgk6qGM4T6U76OJ4iiZWBlm/5FoTGR1QiV/DO5zWQrHZ3zd8w"
    "WbCkcSumZX4jjDGoz3qL3m7kGbfCKuPW1G9ZwrgNKPbB98D9JIzFIFCFCZNTGovYRtMZ5e"
    "LmmQx6QQJEZKu7YCwkxQDmegt3i7w1BuRvUnzPyGV+LZugQh/63S/cJ1ksR8fy8X7dPmN2"
    "VsXslOJKzzj4sUMygvwDggTSeFtBm2+roKgR/+kvzebR0efmwdHpl5Pjz59Pvhx8EW3VG6"
    "dvfc5zYne+Snd0TIHJ9E+X698xIhP0nUwyQz80llV2psqifZV3JU2iyu6JosaeKs1SX3ju"
    "SpOaGSxZGDKqLRUFNkZkIM03aKO9cAuG7UWC3W5CvNLC1Yzd1Rkrfr+slPegkuDGxm9ZB8"
    "KrmsTRojg6mzhRNCfHKI60LJy3ArnakoVM7tAKa9QvYSX/eTJzSlwZi69yGzaST6XLUVmf"
    "Uemy9RHd5t/puvXRu8bifVeLd4psPIKOFRT9KWM2aEjfsBDzO8D8KvYD+gGnmPgrinQxiX"
    "fTeD2zpZBFb0RRWhRYLO6M48esMnXZQkhTGvhLw8/lqqBygWcOLFVqI01p4C8NvyxKg+aW"
    "9DfoPRmZm7VRsjw3RgERVGzPNkcG0guRqgwko8+QRSjXVQbN7r8pQtN9y58loXTadU7giR"
    "KakJIqh5QYX2ummGvsazUnHNRN6prBbk44MCcc7CSoVa2wtdp9VUloc7YszBEHxfzoRY44"
    "0EwLBtitHMpRJMZRrIKI2DCNeJngxuiuQ0sx9KY1Aj/lm2B6p9y6kN0FLOsKmTlyowxaMz"
    "dkviFatxFWHY5qNSbTu6wF618uTiApuJBsWP2yCrrPpsUvM1aUrW1kL5eMFRva0aWl2Ma2"
    "FVneVu9vS6+o3G+Wm/+2LGwIQbA9HeWZ3s4uQWeyfSug2DdyNqFNwKoJWK2CKHbUnVaoOq"
    "QnpFW6PGSUyHh+kgMpuuaVjgFOkpoEzFXxqjkH3a0Tr1rmnLtqIlwkXDXZzQr4g/xRb9xB"
    "KxX46OxYqRrrWj/HCj0/6g8pqOfHvDKrNf0WAXg69RQvoaTP/NMHY+r6TwyMHExkWCHwfy"
    "uAY45cgOBoAuYu5ihtCWyRb1ZaZ3IUEW/6IG6b7M1KmRGBVFJIZ2ZvhgR1SuBsHh5/Pv5y"
    "dHq8zNtcXslL19SkZvpnfy6wTuGaXUczTfn2ZTTfR8N5lYKZ4vFc61bLkUBIYqDfBHpjLR"
    "tr2VjLxlquHrrGWjbWcmVmh922lsPcZb2VHMttzrWOly0LGsWDCZIFbDl4QHyOEFHpl0Gg"
    "SXCWF1okas4nFLAJdJG4kZ/ruRWuspzvdwcybjH0+3fgG0v+eWGLuk5/XRZOcujoSd7DzD"
    "+GjNFlIyB5+9TIHpLDBmg2wNH+/j7ARFjp0ynmgLq2sMblm0HgF3cBYrLzpmhhqMunyncB"
    "39XLCBIG59k2ezxUJ4yIMhZ7pSz2Re9KY51XdClK9XaG+8FrqdHvUnZpMUAUllKRLy+GTB"
    "ZGJuvJJJimNhBJFgcjkTWLkxnr/09o/avhE2gva4heQ27SCquTaZSWt0k1MqlGVQU1x8lj"
    "8jYW/Wf9vA1twS6TaFQM1+xEo1IVv6NFojfI7YgXpq4J5CalY8P8hO25CS9Vb++PJsj2FC"
    "gpR2GiRSPPVRiMHRY0LhpCEzjtfmJAqo3g/1SxNmID5lAO/MMl/hocuDVH6Ml5ARPquQzI"
    "/XhAx2NtbfStcTWB9hXQGBo5/jYpXkuKNw129nEsMaJahNy/9hmQctxYU0w8bR2g/hQ6Tn"
    "ZF+QRtnSKTjpqfT5f+Gvklz0PTv2ldX6ddMqYaSDbKu+mS0djoFa8GUoX8wm3YkkW0c7XS"
    "b6ZsfqOuPOXzasFpx4bVWtmwWTZkyUTYdS3IKvTQrduPG6nvMYtHo7wnLaJs1T1lhq3W2/"
    "t0KjRi/6RbeUoWmHqMgwmCLoAP1OP7YIC54yvdD9R+AQQ9i1YT6thh4LqNOMTiTVP6+1a5"
    "q13/2Ia/PAdphGfShSIshNivBzmb+R/klr0KrXf96IAhkVeivNTLunQuwwjkHUYdGT+xH3"
    "vGxzNNTMCQMO9hCXFejEADzDGfiNcGj3CmIBAfbW/mSP45Uf/L94ye5GSsmSpZM+a0pjff"
    "EBXruKZrS9uxLaaL1KIWQ39BW2UTcq91e9sTP/um3R1Y573eL+3LM5C+NiTRa3ft/sVV+/"
    "L+Otk4ciNOcdHqXrSvU+2XlxOteze31+1BqvXicrx1t2f1r3rf4m2Di0Ny0ev2768HrUGn"
    "17Uu7totxVZ3NdH2/vZS0za4mmjb73ztppr6F0XLq9bAEgZBv/W1LZpEviUXtiLG+/bPUe"
    "VyrSznHwkIqtyx1/SNHDYPCuArWmUCrO7FEZY6SBmAF+1riO/RQRF8RavsDnyQwtdErWSj"
    "v5sukiJRKyrea50j1aEpfl09D5gmJ6kahUZ3R8K7mJxUV3SrcVhiLdFNOiqKQpukM+FW+e"
    "FWS7zSIJvAoLhjN9m1Vodc5RaPLA1vufKR1ZwVNq0fqYX5ffNCdxToVXmhWUi/4/mqu4t0"
    "seNV3ydRNFXZV7ONpKv+m72VFC07bGHRvOB+Uo/IHEw72CIBAZsHZMtdGLiicmpZYhPVVQ"
    "HFpJGzDyKaY/08kx9qFKWr057INsKMwgFSxlMZp6qhv7JZyF/ZzPFXNtP+SpuyUg73Rfsa"
    "4ntYCN/DHHwP0/i61NOd6ZgN8JKghgifFAH4JBvfkxS8YxeJ30lGpfY0YkQ1hPlVOrLtua"
    "Wn5CiNwbkYzlg+0Btl5JnkHYMcpzPHmJavzl4VT3QBMexo1GtV3CHVRHh77pD3MdLvkFha"
    "2WRAn5A2zjN2v5FnnLt+S2H4iqaFE7SYwNhBnzwmAxoVA6AY7AO57Szs6/5V61Pz5BRMoL"
    "hFxypqUbUAmAHGRaezdSlaW+NrzPkKTEqNHHNeCc2SYiyj58SptrPyvmsU+WsnaZkomWzo"
    "6xslI+bPtXLHmDki/r3FWyhKhiHGyqvOcSqzE56vNgdobWOj1uOTfshtN8FdqTHHe1eVlO"
    "WBmK9647FOT17cylWRVWo4DVoVUY5nkID5BMl9pqD8KIdPSGYVRUuPMvBhQh1sw5eG3I4a"
    "IxeJbrS/v/9RqxlvhalRiysw6eSpxWIucTlbY+2OEdZQW6vT8o2IvY6II2RGwJUWsLAsWD"
    "kHfkhRA3fyG+ymGrs2G/362rXVKpBRCU/2do2eChYFrOLuwEY1AV/T1FGwa+ychTiyjRxZ"
    "paCw+38m2lLiH6ogugUDmMj6BUEJykZoolBXnbdgTzHBkq24pjNuNuZn7JoKzCuNHLsGTS"
    "F2yihES4LaOfmbJ0W8/KJVtj50kvLzzyBjcyqmj7I7KinCGoaPNE9OCiF+koP4SSogCruM"
    "W+pbCbjjVDXE+lVCdVSx+bJQx4gM0kWjKLPKQqwufbKgfS2s0wvjbWvQafv1XMqUPwnIzk"
    "DwYUguexeD3t0Z8P8PSevyptM9A+pfUl8pJJvTIqJJWlIRyZymyklgmpZLdpBa0LwGzoS3"
    "jk2buXSMHWTN8Ih7bqkZR0O6lgAqtnP6BtPOTICErKyjrXMQT9DVD+5CpWlyKtOkC9OwGR"
    "ph6PBSkdwxovqh/DoBxswSdjR+1swh51SslZBk2JhRugTWD4Lwtabwxfr6tpP4ea93HZvE"
    "zzvJWfr+5rwt0FfYi0bYd7Xs+kFWb2qB1tcnbEpl103qmi22ZSXi0pWdo7ERFmRWloe7TK"
    "nncpUXqtYrspzcWaUqFGyZxzAZ3DLrV43kySGbnvgTwexC8astch6fWEEQ2aaY1TLgLq7q"
    "TODy+EVzptRKtCLZPGI6U4e0I82+TynYtp4HVXXcXDRCwioxuJXCTSo1iNhwe6i1FENv+q"
    "dAz0XPeAtLQhS/u4BljfFbFhjams5bsjZTPYDbitb7Z0Du/Q5t3Em4ohkF6yMVSV6oC0il"
    "YqMiLu3IaZR6PBcnEq1GNX2+5W45tnOxLRFKFjvPShNSljzvKju0bO63tJaHbBUr/fYgz9"
    "OROd4wPLlTHsx5BubQcT6N1G05kmS4mEoEX3SD6BGf+spwW+ItjxEaqFbQRSA4zzA4p0ew"
    "gI64ZhP8OOHgw8nxAfgfcPCXs4MDddhP4kEyo13m8ki+jSGRR/gMqMspZvKRg4UTE8ypJ/"
    "6qTHcgTzD9IJ1pg1/FZ3Dru9j6/7g2yT47ERQne5wNNftw+RXtImSmoF1ib1NmQQUHi5aF"
    "NUlrsI1jK2zONZGNUxpcE302WFnKZnPHyUxiQ342d6aGWDq1obSCWE18Vyd0xztYldIcWs"
    "jFo4lOKw3u5OqjMGyzShHNBnXLylXm3Kkd3Zo5M5BgdWPg/QmzeXj8+fjL0enxctZcXsmb"
    "OhezZrYuJV0sJYsmRkhqGB78KkHvclCVQDhoXkN0XyVgTDyRa92Nf+/3uhmBSyFJMoAFjz"
    "j4L3Aw20X9KgdcCUYsSiUV9ZsM8E1oC5LBebmTwre/mP3x/w80dDM="
)
