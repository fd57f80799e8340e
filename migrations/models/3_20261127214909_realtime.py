from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "conversations" (
    "id" UUID NOT NULL PRIMARY KEY,
    "last_seq" BIGINT NOT NULL,
    "patient_last_read_seq" BIGINT NOT NULL,
    "doctor_last_read_seq" BIGINT NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "last_message_at" TIMESTAMPTZ,
    "doctor_id" UUID NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
    "patient_id" UUID NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_conversatio_patient_4cb100" UNIQUE ("patient_id", "doctor_id")
);
COMMENT ON TABLE "conversations" IS 'The chat between one patient and one doctor who share an appointment.';
        CREATE TABLE IF NOT EXISTS "chat_messages" (
    "id" UUID NOT NULL PRIMARY KEY,
    "seq" BIGINT NOT NULL,
    "client_id" UUID NOT NULL,
    "text" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "conversation_id" UUID NOT NULL REFERENCES "conversations" ("id") ON DELETE CASCADE,
    "sender_id" UUID NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_chat_messag_convers_190f77" UNIQUE ("conversation_id", "seq"),
    CONSTRAINT "uid_chat_messag_sender__400dd2" UNIQUE ("sender_id", "client_id")
);
COMMENT ON TABLE "chat_messages" IS 'One message. `client_id` makes sending idempotent: a retried send finds it.';
        CREATE TABLE IF NOT EXISTS "notifications" (
    "id" UUID NOT NULL PRIMARY KEY,
    "seq" BIGINT NOT NULL,
    "kind" VARCHAR(32) NOT NULL,
    "title" VARCHAR(120) NOT NULL,
    "body" VARCHAR(300) NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "read_at" TIMESTAMPTZ,
    "appointment_id" UUID REFERENCES "appointments" ("id") ON DELETE CASCADE,
    "consultation_id" UUID REFERENCES "consultations" ("id") ON DELETE CASCADE,
    "conversation_id" UUID REFERENCES "conversations" ("id") ON DELETE CASCADE,
    "recipient_id" UUID NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_notificatio_recipie_b6032a" UNIQUE ("recipient_id", "seq")
);
COMMENT ON COLUMN "notifications"."kind" IS 'APPOINTMENT_BOOKED: APPOINTMENT_BOOKED\nAPPOINTMENT_RESCHEDULED: APPOINTMENT_RESCHEDULED\nAPPOINTMENT_CANCELLED: APPOINTMENT_CANCELLED\nAPPOINTMENT_COMPLETED: APPOINTMENT_COMPLETED\nAPPOINTMENT_NO_SHOW: APPOINTMENT_NO_SHOW\nCONSULTATION_CREATED: CONSULTATION_CREATED\nCONSULTATION_UPDATED: CONSULTATION_UPDATED\nCONSULTATION_SIGNED: CONSULTATION_SIGNED\nCHAT_MESSAGE: CHAT_MESSAGE';
COMMENT ON TABLE "notifications" IS 'Something a user must hear about. Title and body never hold clinical details.';"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TABLE IF EXISTS "chat_messages";
        DROP TABLE IF EXISTS "notifications";
        DROP TABLE IF EXISTS "conversations";"""


MODELS_STATE = (
    "eJztXVtz4jgW/isqXqa7ik4l5NK92UsVIcwkOwlkA729NZMtt4JFUMVIjCWHzs7Mf19Jts"
    "EX2dhAEuPWSwKyjrC/I0vnrt8bU2ojh+21ZzOKCZ8iwhun4PcGgVMkPuguN0EDzmbLi7KB"
    "w3tH9YfLjuoCvGfchSM56Bg6DIkmG7GRi2ccUyIp2mAGORb9f2DgntJHZAOOpwjMMZ8ACG"
    "w64tTdk2OJj2IwTB6Kk92RO9In4IYy/uCiwb+uAJ9TgL6NHI+J3wcjSuT9iTtm4N0UP7hQ"
    "3hY4eA/G1L3HNqBPyHXEQ4lfvSOEkg8jSEbIccTPRR8V0DGgBAU/2wSQ2GFTcJvqCTyCf/"
    "OQxekD4hPkiuf49b+iGRMbfUNMfv214Q9hYVsSMA5dzizIG6Lfr41grPRFOcrs0Rpj5Ngx"
    "/vk9VbvFn2eq7fPny/MfVU8J6r01oo43Jcves2c+oWTR3fOwvSdp5LUHRJAACdkRhhLPcQ"
    "L+h03+g4oG7npo8YT2ssFGY+g5clo0/jb2yEjBrn5J/jn6R3BrkW6W1esPrUF3aFmN1CyS"
    "t5CYIUFThMMSmD/9cZeAqNaG/IHORfv23eHJewWBP2FYCFfjT0UIOfRJFa+WKC85kQL7XI"
    "AlJ6Ye8BhhAnc7oNwLP6yDf9iQw4AQu9dFe3h53R0M29c3cvgpY785Cq32sCuvtFTrc6L1"
    "nc8cKhYUf7VZDAK+XA4vgPwKfun3ukkWLvoNf2nIe4IepxahcwvaUSDD5rBJdF3yGBF7HQ"
    "5HyF6Hv8tl1jC4FINdBJl4+hR/h+gb1/N2SZFgrYCoZszs/mcY42Pv3+1btWBet//zPsbL"
    "q37vp7D7kpG9zlX/TK2isVWTeywNeGcC3S7xpgr0S3GLcsvVLZ0B9euB3xh0Lrrnn6+65y"
    "X3pyXhKVh8vCOd/vXNVXcoWxcfRWu71+leqb6Lj3ek17cGF/0vpyD4kJSI9DxtTOE3y0Hk"
    "gU/E14OTHB6HHD1IvoQhr1vqUpyHgTikxCar/BuUQb4WR4ON7Xt9m0YCPoHNGltUnLKGu5"
    "RcqO0+cZ6DWbIju1YwoXM3LW9mr8n1OKXhelW4rpFVgrtfcj2mIxZV7mJE29TxqrvQrlTp"
    "lpDGVeuimMapDKgCVGmKGD9q1eQArTTAP1IX4QfyM3pOyXwJTAN71GeGdljCXrYuV3kXzh"
    "fmm8S0Eo8vHhpxBcCtWDtuLzvDhmZBMMCuAja2BmbgKifwPRw9zqFrWxkzeTSB5AFpdJez"
    "gPDHn2+RL9ZmYx0xqnbUeDUCPjY7CeV4jEcKjg0x60WG2lmdII2WnHO0RSNzLTYL45ci01"
    "AMJG5wgYYe1z5BQyr+rEa3kxivRuhOW9MEulNI4IO6SzmcJM58L/M9IsuXt5BfxIosHqvd"
    "I4JvQBC5z9KfAEnU6/ADAxPMxHr2fArmEwr8cW3xGXLfBTGfIJJ2nWxnyNW+DOOUeFOnxK"
    "N4vnWNayFtle2ajbN+/2dpJPP/3xGxhS+tbJEvWRY1vfWtmna2sUun1mYG08QQFbax1dZa"
    "KjT6zXgYG6DSL2ddWThz0ROmHrPW9vnqR9iCAa6a4tgO2tsq4BvcIV4aZ4Yxa2/HmQHXsG"
    "pDY9TONmpHtc6SsKYoXxbcikQlrW/bhvEIyQ3NsIl4y53Ed6UxNj3HYhbZTnvQaZ93G+kl"
    "wti5V0K7iZm7lDGyrG3N45MBYsx/7rRVLXK5mWtPEx0t5vcsYUljYpJ8wESANkGi3xQ7yg"
    "jmorF40SeA00dEmLgIOZDUiNhAqs0qkNehDzjDmrb5sDJQuT0aiQcKe0tk5HjYBcFzgndf"
    "Gba/vm8CRsXYT/RR3AKAy8tiKOrxprjmMaSMe3eEzcTrFb+TJphBxubUtQP7XlPclYAOPy"
    "nD73uAyRN0sJSR5E2jKRD3TcXrZOx+VdmImjl2PyM7f4+yM/o2w2K0dSKUY5Q15PqOcLmg"
    "IeJJ5rqsweY4pTE37QKXs8xO0licz+V6mZ/iRt3DVgGj7mEr06grL8X1ZCEulbU7REiMZp"
    "yrGXuBqlUZja2KunBkOumV4CJRSYGUb/kaRBrzMoE2t/5YQznU7u75G0balFRuxbLMr4Uy"
    "BvUhI9HLzTzlVmhl3Jr6PUsotwHFHvg6coLwwa9gCh+FFseEyimVRWyj6YxycfFUKI4uEi"
    "AiW10FY8EpBjDXa7hbHFujQP4q2feEXOYnggTpreg3P+tVDrF4OxY/7ye9GrWzKmqnZFd6"
    "xcEPlyTDQxYQJJDG27J4vq6Aot74D39ptQ4PP7b2D08+HR99/Hj8af+T6KvuOH3pYw4fzi"
    "5/uuwl/GSyIeElc9YIWY8RGY9JMkIDfdNoVtlu3rB/lWMxjJd391hRY0uVZqsvvHalSc0K"
    "lsyqjkpLRYGNERlI8xXa6CzcgmLbSQy3mxCv1HA17+5qd68/LytlPagkuLH3t6wB4UVV4m"
    "hGiU4nTmSc5CjFkZ4FleIv0uEqXbKQSQ+t0Eb9/C/5z5NhB6JlLL5KN2wkGCGtAW8yUOma"
    "TxHZRlP0KXrVaLxvqvFOkY1H0LGCjJkyaoOG9BWrmLwBzC+iP6BvcIqJv6NIE5O4N43VM5"
    "sLWfSGFaVZgcXmzjh+yMrxzGZCmtLAXxp+LncFFUg3c2CpOPU0pYG/NPwyowPNLWlv0Fsy"
    "Mp21UbI8M0YBFlTMZ5vDA2mFSKXVyOgzZBHKdWn12fM3RWimb/lCbEqmXad8ZZTQhJRUOa"
    "TE2Foz2VxjW6spD1Y3rmtedlMezJQH20lQq5qettp8VUloc1wWpj5YMTt6kfpgmmXBALuV"
    "inZFYhzFLoiIDdOIlwlujHod2mpAb1oj8FO2CaY3yq0L2W0wZF0hM/XqyqA1c5eDb4jWTW"
    "SoS45q9U6mvawFk8fD8n2vkzpeBdln08zxjB1la47sxZaxwqEd3VqKObatyPa22r8traLS"
    "3yyd/zbgVOYC++7p6Jhpd3YJOpPtWwHBvpnjhDYBqyZgtQqs2FFzWqGyRJ7gVum6RFEiY/"
    "lJvkjRPa90DHCS1CRgropXzakSvU68apki0dVEuEi4anKaFbAH+W+9MQetFOCjq2OlChRp"
    "7Rwr5PyoPaSgnB+zyhQ4JJUAPJ16aiwhpM/80t0xcf0HBkYOJjKsEPjPCuCYIxcgOJqAuY"
    "s50pyiur1xs9I6k28R8ab34rLJ3qyUGhFwJYV0ZvbmkqBOCZytg6OPR58OT44WeZuLlrx0"
    "TU1qpl84P8Q6hes/B/1ehnyTokxqC3jEwR/AwWwXgc5BUWKSr7IltbPEPJcDpFQ2SrjWrJ"
    "bDgSWJgX4T6I22bLRloy0bbbl66Bpt2WjLlVkddltbXuYu67XkWG5zrna86FlQKR5OkCxg"
    "y8E94nOEiEq/DAJN1FlV8nuQqCkPs2IT6KLEgVca59g2RpXlfL86kHGLod++Al9ZUsV0w0"
    "pK7K+LwkkOHT3Ka5gBl85Vdd+wE5Bj+9TIviMHTdBqgsO9vT2AidDSp1PMAXVtoY3LO4PA"
    "L+4CxGLnTVGoqMtflfcCvqqbESQMzrN19niozjIiymjsldLYw9mVxjqv6FKU6vUU9/2XEq"
    "PfpOxS+IIoLKUgX54NmUMYnqzHk2CZ2oAlWSMYjqxZnMxo/9+h9q9en0B6WYP1GnKTVlid"
    "TKM0v02qkUk1qiqoOUYek7cRzp/18za0BbtMolExXLMTjUpV/I4Wid4gtyNemLomkJuUjg"
    "3zE7ZnJjxXs30wmiDbU6CkDIWJHs08U2Hw7rCgc9EQmsBo9wMDUmwE/1PF2ogNmEM58A+X"
    "+Gtw4NYcoUfnGUyo5zIg/fGAjsfa2uhbG9UE2ldAYmjm2Nskey3J3jTY2cexxIhqEXIfP4"
    "rl5CgH7DCE4OQo8ygWeSlRi0a8N9YUE09bB2gwhY6TXVE+QVunyKTD1seThb1Gfsmz0Ayu"
    "21dXaZOMqQaSjfJummQ0OnrFq4FUIb9wG7pkEelc7fSbCZtfqCtP+bwIR9qx12qtbNgsHb"
    "JkIuy6GmQVZujW9ceNxPeYxqMR3pMaUbbonlLDVsvtAzoVErF/0q08JQtMPcbBBEEXwHvq"
    "8T0wxNzxhe57aj8Dgp5Erwl17GXguo04xOJOU/L7VkdXXv+Yw1+egzTCM2lCERpC7OlBjj"
    "P/nXTZq9B6148OuCOyJTqWulmXzmUYgbzCqCPjJ/Ziv/H+VBMTcEeYd7+AOC9GoAnmmE/E"
    "bYMHOFMQiI+2N3Pk+DlR/4v7jJ7kZLSZKmkz5rSmV3eIin1cM7Wl7tgVy0VqU4uhH9JWWY"
    "VstG9u+uKxr7u9oXXW7//cPT8F6bY7Em277Q46F93zz1fJzpELcYpOu9fpXqX6L5oTvfvX"
    "N1fdYap32Bzv3etbg4v+l3jfoPGOdPq9weerYXt42e9ZndtuWw2ra030/XxzrukbtCb6Di"
    "5/6qW6+o2i50V7aAmFYND+qSu6RL4lN7Yiyvv2z1Hlcq8sZx8JCKo8sde0jRy09gvgK3pl"
    "AqyuxRGWMkgZgMP+NcT3cL8IvqJX9gTeT+Frolay0d9NE0mRqBUV77XOkerQFL+ungVMk5"
    "NUjUKju8PhXUxOqiu61TgssZboJg0VRaFN0plwq/xwqwVeaZBNYFDcsJucWqtDrnKLR5aG"
    "t1z5yGquCpvWj9TC/LZ5oTsK9Kq80Cyk3/B81d1Futjxqm+TKJqq7KtxI+mq/2a7kqJlhy"
    "0suhf0J/WJzMG0AxcJCIa5R7b0wsAVlVPLEpuorgoIJs0cP4jojvXrTH6oUZSuTj6RbYQZ"
    "LV+QMpbKOFUN7ZWtQvbKVo69spW2V9qUlTK4h/1riO9BIXwPcvA9SOPrUk93pmM2wAuCGi"
    "J8XATg42x8j1Pwjl0knpOMSvk0YkQ1hPlFJrLtuaWX5CiNwbkYzlj+oDfKyDPJOwY5TmeO"
    "MS1fnb0qlugCbNjRqNeqmEOqifD2zCFvo6TfIrG1ssmQPiJtnGfsejNPOXf9nkLxFV0LJ2"
    "gxgbGDPnhMBjSqAYAaYA9It7PQrwcX7Q+t4xMwgeISHauoRdUDYAYYF5PO1qVobW1co85X"
    "YFFq5qjzimmWZGMZOSdOtZ2d902jyF86SctEyWRDX98oGbF+rpU7xswR8W/N3kJRMgwxVl"
    "50jlMZT3i+2BygtQ1Hrccng+VouwnuSok5PruqJCwPxXrVH491cnJ4KVdEVqnhNOhVRDie"
    "QQLmEyT9TEH5UQ4fkcwqipYeZeDdhDrYhs9N6Y4aIxeJabS3t/deKxlvZVAjFldg0ckTi8"
    "Va4nK2xt4dI6yhtFan7RsRex0WR8gMgyvNYKFZsHIG/CVFDczJr+BNNXptNvr11WurVSCj"
    "Epbs7So9FSwKWEXvwEY1AV9S1VGwa/SckB3ZSo6sUlDY/D8TfSnxD1UQ04IBTGT9gqAEZX"
    "OpolBXnbdgTzHBcljRplNuNh7P6DUVWFeaOXoNmkLslBGIFgS1M/K3jotY+UWvbHnoOGXn"
    "n0HG5lQsH2U9KinCGoaPtI6PCyF+nIP4cSogCruMW+pbCbjjVDXE+kVCdVSx+bJQx4gM0k"
    "WjKLPKQqwufRLSvhTW6Y3xpj287Pr1XMqUPwnITkHw4Y6c9zvD/u0p8P/fkfb59WXvFKh/"
    "SXmlEG9OirAmqUlFOHOSKieBaZov2UFqQfcaGBNeOzZt5tIxdpA1wyPuuaVWHA3pWgyomO"
    "f0FZadmQAJWVlHW+cgnqCrH9yFStPkVKZJF6ZhMzTC0OGlIrljRPVD+WUCjJkl9Gj8pFlD"
    "zqjYKyHJ0DGjdAms7wXhSy3h4f76uov4Wb9/FVvEzy6Tq/Tn67OuQF9hLzph39Sy6wdZva"
    "oGWl+bsCmVXTeua1xsi0rEpSs7R2MjLMisLAt3mVLP5SovVG1WZBm5s0pVKNgyj2EyuGXW"
    "rxrJk0M2PfEngllHjVdb5Dw+sYIgsk0xq2XAXVzUmcDF8YvmTKmVaEWyecRypg5pRxq/Ty"
    "nYtp4HVXXcXDRCQisxuJXCTQo1iNhwe6i11YDe9LtAz0VPeAtbQhS/22DIGuO3KDC0NZm3"
    "ZG2megC3Fan3e0Du7Q5t3Em4ohkF6yMVSV6oC0ilYqMiJu3IaZR6PMMTiVajmj7fcrcM27"
    "nYlggli51npQkpS553lR1aNvd7WotDtoqVfruX5+nIHG+4PLlTHsx5CubQcT6M1GX5Jslw"
    "MZUIHk6D6BGf+spwWxpbHiM0VL2gi0BwnmFwTo8YAjqizSb4YcLBu+OjffB3sP+X0/19dd"
    "hP4odkRrvM5ZHjNu+IPMJnSF1OMZM/OQyNmGBOPfFXZboDeYLpO2lMG/4iPoMb38Q2+NeV"
    "SfbZiaA4OeNsqPHD5Ve0i5CZgnYJ36bMggoOFi0La5LWYBvHVuicayIbpzS4JuZssLOUze"
    "aOk5nEhvxs7kwJsXRqQ2kBsZr4rk7ojk+wKqU5tJGLRxOdVBpcyZVH4bLPKkE0G9QtC1eZ"
    "a6f27dasmQEHqxsD7y+YrYOjj0efDk+OFqvmoiVv6QxXzWxZSppYShZNjJDUMDz4RYLe5U"
    "tVAuGgew3RfZGAMfGLXGtu/Oeg38sIXFqSJANY8IiDP4CD2S7KVzngSjBiUSqpqN9kgG9C"
    "WpADnJU7KXz7m9mf/weOccuJ"
)
