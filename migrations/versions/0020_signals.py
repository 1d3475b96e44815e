"""signals: infiltration flags (ids, counts, kinds; encrypted decision note), the blocklist of
blind-index tokens (no contact id), and the keyed HMAC of the network a join form came from

Revision ID: 0020_signals
Revises: 0022_retention
Create Date: 2026-11-29

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0020_signals'
down_revision = '0022_retention'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('block_entry',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('name_words', sa.SmallInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by_id', sa.Uuid(), nullable=True),
    sa.Column('note_ct', sa.LargeBinary(), nullable=True),
    sa.CheckConstraint("reason IN ('hostile', 'blocked', 'declined')", name=op.f('ck_block_entry_reason')),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_block_entry_created_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_block_entry'))
    )
    op.create_table('block_token',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('entry_id', sa.Uuid(), nullable=False),
    sa.Column('field', sa.String(length=16), nullable=False),
    sa.Column('key_id', sa.SmallInteger(), nullable=False),
    sa.Column('token', sa.Integer(), nullable=False),
    sa.Column('word', sa.SmallInteger(), nullable=False),
    sa.CheckConstraint("field IN ('email', 'phone', 'messenger', 'name_word')", name=op.f('ck_block_token_field')),
    sa.ForeignKeyConstraint(['entry_id'], ['block_entry.id'], name=op.f('fk_block_token_entry_id_block_entry'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_block_token'))
    )
    with op.batch_alter_table('block_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_block_token_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index('ix_block_token_lookup', ['field', 'token', 'key_id', 'entry_id'], unique=False)

    op.create_table('registration_source',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('pending_id', sa.Uuid(), nullable=False),
    sa.Column('contact_id', sa.Uuid(), nullable=True),
    sa.Column('network', sa.String(length=32), nullable=True),
    sa.Column('network_kind', sa.String(length=8), nullable=True),
    sa.Column('key_id', sa.SmallInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], name=op.f('fk_registration_source_contact_id_contact'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registration_source'))
    )
    with op.batch_alter_table('registration_source', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registration_source_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_registration_source_created_at'), ['created_at'], unique=False)
        batch_op.create_index('ix_registration_source_network', ['network', 'key_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_registration_source_pending_id'), ['pending_id'], unique=False)

    op.create_table('signal',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('contact_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('cause', sa.String(length=120), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by_id', sa.Uuid(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note_ct', sa.LargeBinary(), nullable=True),
    sa.CheckConstraint("kind IN ('shared_contact_detail', 'ip_burst', 'registration_spike', 'blocklist_match', 'staff_detail')", name=op.f('ck_signal_kind')),
    sa.CheckConstraint("status IN ('open', 'cleared', 'confirmed')", name=op.f('ck_signal_status')),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], name=op.f('fk_signal_contact_id_contact'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user.id'], name=op.f('fk_signal_decided_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signal')),
    sa.UniqueConstraint('contact_id', 'kind', 'cause', name='uq_signal_contact_kind_cause')
    )
    with op.batch_alter_table('signal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signal_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index('ix_signal_status_created', ['status', 'created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('signal', schema=None) as batch_op:
        batch_op.drop_index('ix_signal_status_created')
        batch_op.drop_index(batch_op.f('ix_signal_contact_id'))
    op.drop_table('signal')
    with op.batch_alter_table('registration_source', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registration_source_pending_id'))
        batch_op.drop_index('ix_registration_source_network')
        batch_op.drop_index(batch_op.f('ix_registration_source_created_at'))
        batch_op.drop_index(batch_op.f('ix_registration_source_contact_id'))
    op.drop_table('registration_source')
    with op.batch_alter_table('block_token', schema=None) as batch_op:
        batch_op.drop_index('ix_block_token_lookup')
        batch_op.drop_index(batch_op.f('ix_block_token_entry_id'))
    op.drop_table('block_token')
    op.drop_table('block_entry')
