from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "users" (
    "id" UUID NOT NULL PRIMARY KEY,
    "email" VARCHAR(254) NOT NULL UNIQUE,
    "password_hash" VARCHAR(255) NOT NULL,
    "first_name" VARCHAR(100) NOT NULL,
    "last_name" VARCHAR(100) NOT NULL,
    "role" VARCHAR(16) NOT NULL,
    "bio" TEXT NOT NULL,
    "profile_picture" VARCHAR(100),
    "phone_number" VARCHAR(20),
    "specialty" VARCHAR(100),
    "is_active" BOOL NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS "idx_users_role_35db31" ON "users" ("role");
CREATE INDEX IF NOT EXISTS "idx_users_created_43d91f" ON "users" ("created_at");
COMMENT ON COLUMN "users"."role" IS 'PATIENT: PATIENT\nDOCTOR: DOCTOR\nADMIN: ADMIN';
COMMENT ON TABLE "users" IS 'A person who signs in: a patient, a doctor or an administrator.';
CREATE TABLE IF NOT EXISTS "auth_sessions" (
    "id" UUID NOT NULL PRIMARY KEY,
    "created_at" TIMESTAMPTZ NOT NULL,
    "expires_at" TIMESTAMPTZ NOT NULL,
    "revoked_at" TIMESTAMPTZ,
    "revoked_reason" VARCHAR(32),
    "user_id" UUID NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "idx_auth_sessio_user_id_287ae8" ON "auth_sessions" ("user_id");
COMMENT ON TABLE "auth_sessions" IS 'One sign-in: the family of refresh tokens that descend from one login.';
CREATE TABLE IF NOT EXISTS "refresh_tokens" (
    "id" UUID NOT NULL PRIMARY KEY,
    "token_hash" VARCHAR(64) NOT NULL UNIQUE,
    "created_at" TIMESTAMPTZ NOT NULL,
    "used_at" TIMESTAMPTZ,
    "session_id" UUID NOT NULL REFERENCES "auth_sessions" ("id") ON DELETE CASCADE
);
COMMENT ON TABLE "refresh_tokens" IS 'A single-use refresh token. Only a SHA-256 hash of the token is stored.';
CREATE TABLE IF NOT EXISTS "aerich" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "version" VARCHAR(255) NOT NULL,
    "app" VARCHAR(100) NOT NULL,
    "content" JSONB NOT NULL
);"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJztm39P2zgYx9+Klb9AKmjroJvQ6aQUultvo50g3E07TpmbuK1FYmexA1Q73vs9dpKm+V"
    "XajjJaVULQ2s9jO5/Hcb6PHX4YPneJJw7NSI4viRCUM+ME/TAY9gl8qKpuIAMHQVapCiQe"
    "eNoeg6EtYktdgwdChtiRUDnEniBQ5BLhhDSQcV9GnxEk6IgdUHaC5JiAnU+9CeJDFJJhSM"
    "QYSX5DmIBKLJHyJsxFw5D7iIOvx0eUHaq+XO5AZ5SNnq7Za3bNTMeBC0qtFRnVHg1Rcp1o"
    "75ug7rf9BhIc2r7lNzAEhLNqaIpHsgF1kSBqAPiaiYAwmR9JAwVYiDseusgZYzYCVi4BdP"
    "QWK1b7iLJb7FEXS6IGTXwE4+bMIfriI0a/R8SWfESgLgQE//wLxZS55J6I9GtwYw8p8dxc"
    "kKmrGtDltpwEuuzqqnv2XlsqsAPb4V7ks8w6mMgxZ1PzKKLuofJRdSPCSAijdGeCziLPSy"
    "ZJWhSPGApkGJHpUN2swCVDHHlq6hi/DSPmKApI96R+Hf2eDG3GzLZ7fcu+7Fi2bZRmmhpC"
    "YZYkRQ5MVpillEkF6sdD3G4GRJcaqoPTD+bF3pvWvkbAhRyFulLjMh60I5Y4dtXQM8pOSB"
    "QTG8sy7TOokdQn1cTzngXybuJ6mH5YJQJpQRaC7GZN4ab41gDcgAt0+8ybJLGfEwCre965"
    "tMzzz6o7X4jvnuZnWh1V09Slk0LpXhwvDutQvEpNG0F/d60PSH1FX/u9TjGqUzvrq6HGBK"
    "sbtxm/s7E7M03T0pQaWGZRJ/cBhdZWiHrecwujviFRTpnMDbNe9le6ufOeTxDmZFbuory+"
    "KMNyJWIllI/06RiH86OceRYiDcg2L7aGj+9tj7CRHMPXN805sf7LvIifnc1C/HpJTVNXPe"
    "R4g1wK7eXUyYzLU0qUMuiSRvk199AjgkRpvuFNpR5RpMpk3/OQgGr+SCaabxfGgUFiVvBM"
    "UoOrpJmNJJqVZv2H+G6qkWenE1w6XDCR8Z1uXp6aZx1DAx5g5+YOh65dQzpR+XacQZSZtx"
    "P/9x8viKe1fj3ui7gtSzW1uc/8EnfNkTf5DL8c2XKV3/SLJZjhkb4k1bfqqYpZRXZbZFqf"
    "3pYj+Xh+a0IaykYeOVDJXy7hO0RK80KmePnBPGget9AYQxXkhypd1RaICiQk3JJuOcF9wn"
    "Z3ueMLWKobc3JHHTRbhXEZ0ZH3WklwrMD72fRG62gBvdE6qtUbqiqvN3Ypej367U3RYf1c"
    "JeQzbrus7SVnbck+7JKJRN5rvbnESwnt6smEyA4HfjKfKBw1bCbcR/OK/OxaNrVYp1jW+V"
    "yFSE7zvHpxrHKlhTVxALagyO7GXJ/SCKSOaTAKIP0hTDbgI8AGhYrgBzOEXZ8yqpqFsiot"
    "/NPt7TTwC1hh5mlg4mPqLSN/pw5bp3ybx4tIX7Cq1b66Li9+08PHpdOMkuPT8P7VgrdA/H"
    "gh4sdziB8XiQ9pKKStvy2BO++1haxfv3q1AGuwqmWt6/KsPbwC6pzTjvRipEPu1UDusMgv"
    "qcD8MUniuy7W5QfjZ9PqdnrWko/C1O0EJR+u2Vn/1OpfnKD47zUzz867vROk/xT1ykKxaS"
    "0SmmJeNROZVjEwA8rLcbHIvaye/In580174xfoEavzxcrlsSnAvXPzy34ul/3U7/2Rms8A"
    "P/3UbxefpCEfUo/YAXVkFC614lS4bt9B4VqWnQAgERtWmEHVsdYc4gW/7cPdXIR2sx52s8"
    "RaBMSh2JOTZUDnnLaP8lomNRW2fgGwYg1pc3hWYlaTY876FVgPwHFdS3j6fH3eRbzd73/K"
    "LeLtbnGVvjpvd4C+Zg9GNN5q6cKDf5NPAJ41A93iA4DAXTHoec/dsc9LiXrFucD0LYPSTu"
    "pjr2+U3mlf/e2N7dzcXuvLGyYJqTM2qv4pIa5pzP1/hMzmsU3pegxPvDXcZTUZV+XOsMJc"
    "mCrJmvZyNytHaggHzddHb4/evWkdvQMTPcxpyds560j6UK7fCb4lYfVhU734nHHZwn2cte"
    "xOqptqCcKJ+RbSXYuyhx4lYRWC48/Lfq9GYWYuRaVBHYn+Qx4VpbViA2jPgatgzN+eKe7E"
    "FHSCaqBddXT9nIerD/8DilzVTg=="
)
