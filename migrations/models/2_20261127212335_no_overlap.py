from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


# Written by hand: Tortoise has no API for these. No two non-cancelled appointments of one
# doctor, or of one patient, may overlap; the database refuses it even under concurrent
# bookings (SQLSTATE 23P01, mapped to SlotUnavailable). Ranges are half-open, so
# back-to-back slots (10:00-10:30, 10:30-11:00) do not overlap.


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE EXTENSION IF NOT EXISTS btree_gist;
        ALTER TABLE "appointments" ADD CONSTRAINT "appointments_doctor_no_overlap"
            EXCLUDE USING gist ("doctor_id" WITH =, tstzrange("starts_at", "ends_at", '[)') WITH &&)
            WHERE ("status" <> 'CANCELLED');
        ALTER TABLE "appointments" ADD CONSTRAINT "appointments_patient_no_overlap"
            EXCLUDE USING gist ("patient_id" WITH =, tstzrange("starts_at", "ends_at", '[)') WITH &&)
            WHERE ("status" <> 'CANCELLED');
        ALTER TABLE "appointments" ADD CONSTRAINT "appointments_ends_after_start"
            CHECK ("ends_at" > "starts_at");
        ALTER TABLE "appointments" ADD CONSTRAINT "appointments_status_known"
            CHECK ("status" IN ('SCHEDULED', 'COMPLETED', 'CANCELLED', 'NO_SHOW'));
        ALTER TABLE "time_off" ADD CONSTRAINT "time_off_ends_after_start"
            CHECK ("ends_at" > "starts_at");
        ALTER TABLE "working_hours" ADD CONSTRAINT "working_hours_within_a_day"
            CHECK ("weekday" BETWEEN 0 AND 6 AND "start_minute" >= 0
                   AND "end_minute" <= 1440 AND "start_minute" < "end_minute");
        ALTER TABLE "doctor_schedules" ADD CONSTRAINT "doctor_schedules_slot_length"
            CHECK ("slot_minutes" BETWEEN 5 AND 240);"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "doctor_schedules" DROP CONSTRAINT "doctor_schedules_slot_length";
        ALTER TABLE "working_hours" DROP CONSTRAINT "working_hours_within_a_day";
        ALTER TABLE "time_off" DROP CONSTRAINT "time_off_ends_after_start";
        ALTER TABLE "appointments" DROP CONSTRAINT "appointments_status_known";
        ALTER TABLE "appointments" DROP CONSTRAINT "appointments_ends_after_start";
        ALTER TABLE "appointments" DROP CONSTRAINT "appointments_patient_no_overlap";
        ALTER TABLE "appointments" DROP CONSTRAINT "appointments_doctor_no_overlap";"""


MODELS_STATE = (
    "eJztXW1v2zgS/iuEv2wCuEHjJule7gVwHO812yTuxu510WahZSQ6JiKRXr3Eze31vx9JSd"
    "YbJYu2k8paAkVjSxxaeoaiZp4ZDv/sONRCtnfQn88pJr6DiN85BX92CHQQ+yA73QUdOJ8n"
    "J/kBH97Zoj1MGooT8M7zXWjyTqfQ9hA7ZCHPdPHcx5RwiT6YQx+z9j944I7SB2QBHzsILL"
    "A/AxBY1PSpe8D7Yh9ZZ5jc1xe7JbdkRMAH6vn3Lhr/cgn8BQXoq2kHHvt9YFLCr49dsQf2"
    "HHzvQn5Z4HAfTKl7hy1AH5Frs5tiv3pLCCWvTEhMZNvs59K3CugUUIKin+0CSKz4UHSZ4g"
    "4Cgv8IkOHTe+TPkMvu48tv7DAmFvqKPP71SyfswsAWF/B86PqeAf0Oa/elE/VVPMl7mT8Y"
    "U4xsK6O/sKU4bvhPc3Hs48eL859ESw7qnWFSO3BI0nr+5M8oWTYPAmwdcBl+7h4RxEBCVk"
    "qhJLDtSP/xofBG2QHfDdDyDq3kgIWmMLD5sOj8YxoQU8Aufon/d/Sv6NJSzQzjejQxxsOJ"
    "YXQKo4hfQm6ERIdSGubAfAv7TQARRzv8Bwbv+jd7b072BQThgPFiuDrfhCD0YSgqdJWgnG"
    "iiAPY5A4sPTDngGcEc7lYkeRB/WAf/+ECFAmLsXhbtycXVcDzpX33g3Tue94ct0OpPhvxM"
    "Txx9yh3dC5VD2YQSzjbLTsCni8k7wL+Cz6PrYV6Fy3aTzx1+TTDwqUHowoBWGsj4cHyINU"
    "10jIi1joZTYi+j32Sa1QpWUrCLoMfuvqDfCfrqy3WbSORUyyBqmTKHv04yerz+T/9GTJhX"
    "/V/3M7q8HF3/O26eKPJ6cDk6E7NoZtb0A68I+GAG3SEJHAH6BbtE/sqVTZ2R9MuB3xkP3g"
    "3PP14OzxXfT4ngKVh+vCWD0dWHy+GEH11+ZEf714PhpWi7/HhLrkfG+N3o0ymIPuQtIrlO"
    "Ow78atiI3Psz9vXwpELHsUYP8w9hrOueOJXVYWQOCbPJUH+CSsTX0mj0YvurPk0mg49hs8"
    "YrKivZwrcUn6itEbGfolGyI2+taEBXvrSCubWm1rOSWutN0brEVomuPtF6xkes69xlhLbp"
    "4zV3ol3p0iWQZl3ruphmpTSoDFRORUwfpG5yhFYR4J+oi/A9eY+eCjZfDtOIj/rooR22sJ"
    "OjySzvwsWSvskNK3b77KaRLwC4YXPHzcVg0pFMCBrYVcBm5sASXPkAvoPmwwK6llEyks0Z"
    "JPdI4rucRYI/vb9BoVlbjnWKVB2I/loEvECR9mgKvQyu2VMpYFlH7AKXyMnRHRE0oey/1R"
    "gPcv3tpA8hR9fpOTl0HUjgvbhK3h0XLh1p1Rx/MhxrMf1G6nFYTfgzvQEm5D5xhhySNI/+"
    "gwdm2GNP6NMpWMwoCPu12Gfoh6T6YoZIMRiwnS5Xs/OaZv+uNPsDu7916aJYtslMXedsNH"
    "rPaZ/w7y1hL6WEN0p9KeOI5HxSM5mjqUsdYzMKMNdFg1mj1vJ/zEfdTIeZDhr9cLZVhXMX"
    "PWIaeMbaUUx5D1uglJppju0gg9SAaNcO6VLT85qo3Q49D9fgaaGmactp2rTXqQhrQfJ5wW"
    "1Ins36bC3M5vxtSCzmMgh3Et+V9GJxjGU4xkF/POifDzvFKUIztyuh3YS4VSIjVbm1wJ+N"
    "keeF911k1VKnu5V8GmtoeGFLBSbNY4PkFSYMtBli7RxsCxLMRVP2oM+ATx8Q8dhJ6AMujY"
    "gFuNssUlNteo9L2LTNu+Wpt33TZDcUt+bI8P6wC6L7BHu/e9j6fb8LPMr6fqQP7BIATE6z"
    "rmjgd9m5wEOC3Lsl3pw9Xtkr6YI59LwFda2I3+uyq2LQ4UdB/O4DTB6hjbmNxC8aOYBdN2"
    "WPk+b9mvIi6lbwftp2/ivazujrHLPe1sm5zUi2UOs7ouWaRMQjX72xhpqzkppu2gUtl9FO"
    "nCyu1nK76KcsqfumV4PUfdMrJXX5qayfzMwlVd4hJaI940rPOIhcrcZ4bE30hVPDSe4E18"
    "mziax8I/QgipirpNvchH1NeFe7+87fMNNG0bnNpM9IvNt8ek25e5tO7Knp3n7i3iX3P5lv"
    "xx4sZEXLK/mfgHMs7MiUfeU+Z4p5KTq0m3SkvGQz5XJI1mymz2qv8rt6lQ6ysAltI0oPUg"
    "mFSURfcBHSd4D5WUJi6Ct0MAnX/kzZHbNrk0zx5Vook9eqUFYFJo/I8/F9Mj3XVUJRUsOv"
    "DL/P3woiajC3oVJQviip4VeGn6evoIXBmQI5B1HqmabFqgiI3XNQK3TACYVCDhGn2hFz/3"
    "1ZVnz5+C0I6uGrvo5a2LTrVJ9IC2r+rMn8mQ6BlKq5xSEQvbq3bVqXPOx6da9e3buToDY1"
    "F281fdVIaCsCDnp5b72YQ53lvZJpQQO7lQXpdQI67C2IiAU3i+Skow590WHgtAj8AjfhyU"
    "m5dSG7ibpsK2RzN+l8Q9g+pLq68FGrRlkxblgz9zteff8ymd9NeJtvmvhdMkduLTS7nARX"
    "hGjTk2W9UK2RmrBXR2w5z8cjqEyC1+OlPJU3DLim+ywGaBXkdLJuA0zVbkVY1We6VIpgRO"
    "2bvPa3sdSvpgVLVbGjBFGtVYUB05byssK0kOYy8g9S+p2nBqxEVOdPVtIZ1UWelH1vxRpP"
    "zUR4pYkpGWY1GI7wqdcEx0oDPj07Nmp9odRzX2Hnpz38mnZ+hmeosWsHAdhxAtEXM9LnYe"
    "WtjLn+gwdMGxOeKAfCewVw6iMXIGjOwMLFPpJs67G9fiWewhfZU0QC546d/k27EU1yIyKt"
    "FJC+ICV+RCKQAxtva8X5y5qvokjfq97h0dujH9+cHP3ImogLXR55WwH8xfUkb+CEde9irA"
    "u4/jweXZfYNwXJvLeATR/8D9jY20WgK1DkmFS7bHnvLDfOeQcFl40SX0qrVWggEdHQbwK9"
    "9pa1t6y9Ze0tNw9d7S1rb7kxs8MOe8vnIgNkbM6QFQiIC35yrkW3ykOO8km8qHHtHS1DOe"
    "aoii0p/yvWFRILeDb1Qbjo++9RIZwFQg/2E5jRwPUAN7SZvzsFWLKIcWu96ghaA+b7blUE"
    "janX4Ootgl1eJiEj1IpYWrZEwslRjRIJJ0elJRL4qdyyCfbcGA4mgXTJytiBtl1KNuRl20"
    "Q5vOm9PVmyDfxLFdEwvupfXhbZBp24Xo7ybnpau5e43oTEoW14AnXSKsWbvoi6SqrbJ+ry"
    "6nvv4p527LFaK82tLK9aMcNtXWu/CSN0g5xqeSWXjcz3Qr6lxICX5WSWm/DpZFADs+YKtT"
    "XDMg/CmIy6uUMWwCQXkJJX0FQR1iZ5AybeKpOcNcdy/qXaTkzLaRsxayMmD4iKn5OVaqGj"
    "03v9uoanw1qVujri3LecZeYpeZNx+xbie1gL38MKfA+L+Lo0kNWOqKhqGAu0EOHjOgAfl+"
    "N7XIB36iJ2n8SUFGkqhzgj1EKYn2UgW4GrPCWnZTTO9XDG/AcDc41yS1k5XS5FPWdeBy91"
    "8LLRLveq4GWNEqrPGWPLFFKVOOj5QqvlznmxvGud6JrHMLbRK74jRGYXiAPAaVXmX4/f9V"
    "/1jk/ADLJTdCpKf4oWAHuAV2xEliy+trV+tTvfgEmpWxVh40ozuBqVQmwZqe28eb8rBfjc"
    "ETadb1cO/W5GgWoVrfLWC/x5uhTd91avJMhX1G+0OZOi6ZyV0hmV1Wazl+wYtqHFnNt/bD"
    "fBXWkxZ0dXk4zlCZuvRtOpzE6OT1WayCKvh0at6hjHc0jAYoZ4nCmqcu/DB+QBQtO17T2w"
    "N6N8R7SnLg9HTZGL+HZoBwf7Ust4K51qs7gBk06VWbz2BuDb3ve7odNQK17fiFhr7amWiG"
    "kFN1rB62yxtdHWWs2ik18gmqr92nL02+vXNiu7sRFM9nadngZWOW1idEA1Ie/FXB0Bu8TP"
    "idVR7uTwveJq0/9z1pZyd4SKInEe4NtUQxCVKO0mLgr7x9wWaDmYYN4tOyZzbjbuT/s1DZ"
    "hXuhV+DXIgtlUMoqVA60j+3nEdlp+1KreHjgs8f7z5unJEpSDYwvSR3vFxLcSPKxA/LiRE"
    "YdfzDfFNAe6sVAuxfpZUHRuuAXVGSCNdN4vSLgF5SAKnYPzlEirtZ8W6+GL80J9cDK8niq"
    "/CWOwURB9uyfloMBndnILw7y3pn19dXJ8C8Sdvr9TSzUkd1eQ9qZRmTvKKucO0qJfyJLWo"
    "eQvIhJfOTZu7dIptZMyx6Qeu0owjEW3fRunPMu3MGUjIKCs4VoF4Tq59cPfqkWcV3Flh0f"
    "UcmRjavlImd0aofSg/T4KxZzA/Gj9K5pAzyt6VkJT4mGm5HNZ3TPC5pvD4/fqyk/jZaHSZ"
    "mcTPLvKz9MersyFDX2DPGuGQapEU2NspUvhFPdD2csK6zkHbtC4JsS2XkSsvy0/nRhjQM8"
    "oYbpV1+htup9KMQGv1Bj552Eq36dK4leFmhFVbN6wJkcJsIPprLXKBPzOiJLJNMWtlwl3p"
    "Cir2gIpicEgSyVh3g7K/Bm4uMhGzszVuSrgZegfBTdDT2wkq45fOwF0fsVSyb1tAUsolSF"
    "FAqdKbcjzj8kurUS0W89wtIqgSW4XUi0zxLkkKRr64V3kqxiJsaSwritUrlXRnU/Mh3Ktj"
    "WaaUVyE9BQto269McZo/STy9QiycjIdBup6pvJLSlvq+JbdkIlpBF4GoeGO0dQjrAtrsmE"
    "Xw/cwHe8dHr8E/weu/nb5+vc+TQXI/xFeA8tx33m/3lvAqrBPq+hR7/CcnsdMPFjRg/4uV"
    "oYCXa93jzufkM/sMPoQu6fiXS50cvxNJJHzEWVDCW1dXgEqJ6QJQuVgAXzUQVVFVhTUvq7"
    "HNYsss2jWRzUpqXHNjNnqzqK5+zIrpRODq1Y+lFqJyKrCygdhMfFcvgMwOsCalBfeRi82Z"
    "zCqNzlTaozBps8oQLQd1y8ZV6dwpfbolc2akwebmjG5l87FyW+oRufLlzeU5ACmRFqbTPU"
    "uSKH+oFBCOmrcQ3WdJsND7uL3oPm4K8dftv8y+/R+LgXO9"
)
